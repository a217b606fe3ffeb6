// A Lunit pathology trunk end to end through the real executable: `weights fetch lunit_swav --from FILE`,
// `extract --backbone lunit_swav`, `compare`, `report`. The real checkpoint needs a network, so FILE is a
// synthetic one of the same layout: every tensor of torchvision's ResNet-50 state dict except `fc`
// (Backbones/SyntheticWeights values, written as safetensors, the format `weights convert` produces).
// The rows must be the network on pixels normalised with Lunit's statistics, not ImageNet's.

import Backbones
import Evaluation
import Extraction
import FeatureStore
import Foundation
import Imaging
import NeuralKernels
import TestSupport
import Weights
import XCTest

final class LunitWeightSetTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        _ = try carcinomaExecutable()
        directory = try temporaryDirectory("lunit-weight-set")
    }

    override func tearDown() {
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    private func run(_ arguments: [String]) throws -> ChildResult {
        let result = try runCarcinoma(arguments, memoryLimitMiB: 4096, timeLimitSeconds: 600)
        XCTAssertEqual(result.status, 0, "carcinoma \(arguments.joined(separator: " ")): \(result.error)")
        return result
    }

    func testFetchedLunitTrunkExtractsWithItsOwnNormalisation() throws {
        // 1. A synthetic Lunit-layout checkpoint, fetched under the catalogued name.
        let checkpoint = directory.appendingPathComponent("swav_rn50_synthetic.safetensors")
        try writeSyntheticWeights(.resnet50, to: checkpoint)
        XCTAssertNil(try loadWeights(from: checkpoint).tensors["fc.weight"], "a trunk without the classifier")
        let weights = directory.appendingPathComponent("weights")
        _ = try run(["weights", "fetch", "lunit_swav", "--from", checkpoint.path, "--dir", weights.path])
        let fetched = try loadWeights(from: weights.appendingPathComponent("lunit_swav.safetensors"))
        XCTAssertEqual(fetched.metadata["name"], "lunit_swav")
        XCTAssertEqual(fetched.metadata["architecture"], "resnet50")

        // 2. Small images (native view: the network sees each image itself), labelled for compare.
        let images = directory.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        var labels = "id,malignant\n"
        for index in 0..<12 {
            try writeTestPNG(width: 40, height: 36, pixels: testPixels(width: 40, height: 36, seed: 100 + index),
                             to: images.appendingPathComponent("\(index + 1).png"))
            labels += "\(index + 1),\([-1, 0, 1][index % 3])\n"
        }
        let labelsFile = directory.appendingPathComponent("labels.csv")
        try Data(labels.utf8).write(to: labelsFile)
        makeWorldReadable(directory)

        let features = directory.appendingPathComponent("features")
        _ = try run(["extract", "--images", images.path, "--backbone", "lunit_swav", "--weights-dir", weights.path,
                     "--view", "native", "--out", features.path, "--threads", "2", "--quiet"])

        // 3. The table, the manifest and the rows agree on Lunit's normalisation.
        let lunit = try XCTUnwrap(WeightSet.named("lunit_swav"))
        XCTAssertEqual(lunit.preprocessing, WeightSet.lunitPreprocessing)
        let table = try run(["backbones"]).output
        XCTAssertEqual(table, WeightSet.table())
        let cache = try FeatureSet.load(npy: features.appendingPathComponent("lunit_swav-native.npy"))
        let manifest = try XCTUnwrap(cache.manifest)
        XCTAssertEqual(manifest.backbone, "lunit_swav")
        XCTAssertEqual(manifest.preprocessing, FeatureManifest.Preprocessing(
            inputSize: lunit.preprocessing.inputSize, mean: lunit.preprocessing.mean, std: lunit.preprocessing.std,
            transformInput: lunit.preprocessing.transformInput))

        let network = try ResNet(depth: .resNet50, weights: SyntheticWeights.store(), context: .singleThread)
        let image = try decodeImage(at: images.appendingPathComponent("1.png"))
        func embedding(_ preprocessing: Preprocessing) -> [Float] {
            network.embed(Tensor(shape: [1, 3, image.height, image.width],
                                 storage: normalizedPlanes(image, mean: preprocessing.mean, std: preprocessing.std))).storage
        }
        let row = Array(cache.row(try XCTUnwrap(cache.ids.firstIndex(of: "1"))))
        let withLunit = compare(row, embedding(lunit.preprocessing))
        let withImageNet = compare(row, embedding(BackboneName.resnet50.referencePreprocessing))
        print("lunit_swav row vs the network on Lunit-normalised pixels: \(withLunit); on ImageNet-normalised: \(withImageNet)")
        XCTAssertLessThan(withLunit.relativeL2Error, 1e-5, "\(withLunit)")
        XCTAssertGreaterThan(withImageNet.relativeL2Error, 1e-3, "the ImageNet normalisation gives nearly the same row: the test cannot tell")

        // 4. compare and report carry the weight set's name.
        let results = directory.appendingPathComponent("results")
        _ = try run(["compare", "--features", features.path, "--labels", labelsFile.path, "--heads", "softmax", "--folds", "2",
                     "--inner-folds", "2", "--repeats", "1", "--no-ensembles", "--threads", "1", "--seed", "0", "--out", results.path])
        let stored = try String(contentsOf: results.appendingPathComponent("results.json"), encoding: .utf8)
        XCTAssertTrue(stored.contains("\"backbone\" : \"lunit_swav\"") || stored.contains("\"backbone\":\"lunit_swav\""), stored)
        _ = try run(["report", "--results", results.path])
        let report = try String(contentsOf: results.appendingPathComponent("report.md"), encoding: .utf8)
        XCTAssertTrue(report.contains("| lunit_swav-native | lunit_swav |"), report)
    }
}
