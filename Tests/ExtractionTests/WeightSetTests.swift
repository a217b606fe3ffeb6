// The preprocessing belongs to the weight set: for every catalogued set, the table `carcinoma backbones`
// prints, the manifest an extraction writes and the pixels the network receives state the same numbers;
// a user's statement (flags or sidecar) wins and is recorded; a file holding another catalogued set is
// refused instead of being normalised with the wrong statistics.

import Foundation
import XCTest
import Backbones
import Extraction
import FeatureStore
import Imaging
import NeuralKernels
import TestSupport

/// Records every input it is given; its embedding is each channel's mean.
final class InputRecorder: @unchecked Sendable {
    let lock = NSLock()
    var inputs: [Tensor] = []
    func record(_ tensor: Tensor) { lock.lock(); inputs.append(tensor); lock.unlock() }
}

struct SpyBackbone: Backbone {
    let recorder: InputRecorder
    var name: String { "spy" }
    var embeddingWidth: Int { 3 }

    // input: N x 3 x H x W → N x 3 x 1 x 1
    func embed(_ input: Tensor) -> Tensor {
        recorder.record(input)
        let plane = input.height * input.width
        var output = Tensor(shape: [input.batch, 3, 1, 1])
        for n in 0..<input.batch {
            for c in 0..<3 {
                let start = (n * 3 + c) * plane
                output[n, c, 0, 0] = input.storage[start..<(start + plane)].reduce(0, +) / Float(plane)
            }
        }
        return output
    }
}

/// One row of `WeightSet.table()` read back: the numbers as a user sees them.
struct PrintedRow {
    var architecture: String
    var inputSize: Int
    var mean: [Float]
    var std: [Float]
    var transformInput: Bool

    init(table: String, name: String) throws {
        let lines = table.split(separator: "\n").map(String.init)
        let header = try XCTUnwrap(lines.first)
        let line = try XCTUnwrap(lines.first { $0.split(separator: " ").first.map(String.init) == name }, "no row for \(name)")
        // Columns start where the header's words start.
        let starts = ["architecture", "input", "mean", "std", "transform_input"].map {
            header.distance(from: header.startIndex, to: header.range(of: $0)!.lowerBound)
        }
        func cell(_ column: Int) -> String {
            let characters = Array(line)
            let end = column + 1 < starts.count ? starts[column + 1] : characters.count
            return String(characters[starts[column]..<min(end, characters.count)]).trimmingCharacters(in: .whitespaces)
        }
        func floats(_ text: String) throws -> [Float] { try text.split(separator: ",").map { try XCTUnwrap(Float($0.trimmingCharacters(in: .whitespaces))) } }
        architecture = cell(0)
        inputSize = try XCTUnwrap(Int(cell(1)))
        mean = try floats(cell(2))
        std = try floats(cell(3))
        transformInput = cell(4) == "yes"
    }
}

final class WeightSetTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try temporaryDirectory("weight-sets") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func testTableManifestAndPixelsAgreeForEveryWeightSet() throws {
        let table = WeightSet.table()
        let folder = try makeImageFolder(directory, sizes: [(23, 17)])
        let image = try decodeImage(at: folder.appendingPathComponent("img_00.png"))
        XCTAssertEqual(Set(WeightSet.names), Set(WeightSet.catalog.compactMap { $0.download?.name }), "every set is downloadable")
        var distinctStatistics = Set<[Float]>()
        for set in WeightSet.catalog {
            let printed = try PrintedRow(table: table, name: set.name)
            XCTAssertEqual(printed.architecture, set.architecture.rawValue, set.name)
            // What extract settles for the file `weights fetch` writes (its metadata names the set).
            let settled = try settlePreprocessing(set, weightsFile: directory.appendingPathComponent("\(set.name).safetensors"),
                                                  metadata: ["name": set.name], statement: nil)
            let recorder = InputRecorder()
            let loaded = LoadedBackbone(backbone: SpyBackbone(recorder: recorder), name: settled.name,
                                        preprocessing: settled.preprocessing, weightsFile: "\(set.name).safetensors", weightsSHA256: "spy")
            let features = try extract(folder, into: directory.appendingPathComponent("native-\(set.name)"), loaded: loaded).features
            let manifest = try XCTUnwrap(features.manifest)
            XCTAssertEqual(manifest.backbone, set.name)
            XCTAssertEqual(manifest.preprocessing, FeatureManifest.Preprocessing(inputSize: printed.inputSize, mean: printed.mean,
                                                                                 std: printed.std, transformInput: printed.transformInput),
                           "\(set.name): the manifest and the printed table differ")
            // The native view feeds the image itself: each value is (byte / 255 - mean) / std with the printed numbers.
            let input = try XCTUnwrap(recorder.inputs.first)
            XCTAssertEqual(input.shape, [1, 3, image.height, image.width])
            let plane = image.width * image.height
            var worst: Float = 0
            for c in 0..<3 {
                for i in 0..<plane {
                    let expected = (Float(image.pixels[3 * i + c]) / 255 - printed.mean[c]) / printed.std[c]
                    worst = max(worst, abs(input.storage[c * plane + i] - expected))
                }
            }
            XCTAssertEqual(worst, 0, "\(set.name): the pixels fed to the network are not normalised as printed")
            // The resize view feeds the printed input size.
            recorder.inputs.removeAll()
            _ = try extract(folder, into: directory.appendingPathComponent("resize-\(set.name)"), view: ViewOptions(kind: .resize), loaded: loaded)
            XCTAssertEqual(recorder.inputs.first?.shape, [1, 3, printed.inputSize, printed.inputSize], set.name)
            distinctStatistics.insert(printed.mean + printed.std)
        }
        // ImageNet, TF Lite and Lunit: three different normalisations in the table.
        XCTAssertEqual(distinctStatistics.count, 3)
        XCTAssertEqual(WeightSet.named("lunit_swav")?.preprocessing.mean, WeightSet.lunitPreprocessing.mean)
        XCTAssertNotEqual(WeightSet.named("lunit_swav")?.preprocessing.mean, WeightSet.named("resnet50")?.preprocessing.mean)
    }

    /// transform_input is the one part of the preprocessing inside the network: the set's value reaches it.
    func testTransformInputReachesTheNetwork() throws {
        for set in WeightSet.catalog where set.architecture == .googlenet {
            let network = try XCTUnwrap(try makeBackbone(set, weights: SyntheticWeights.store(), context: .singleThread) as? GoogLeNet)
            XCTAssertEqual(network.transformInput, try PrintedRow(table: WeightSet.table(), name: set.name).transformInput)
            var stated = set
            stated.preprocessing.transformInput.toggle()
            let other = try XCTUnwrap(try makeBackbone(stated, weights: SyntheticWeights.store(), context: .singleThread) as? GoogLeNet)
            XCTAssertEqual(other.transformInput, stated.preprocessing.transformInput)
        }
    }

    func testAUsersStatementWinsAndIsValidated() throws {
        let resnet = try XCTUnwrap(WeightSet.named("resnet50"))
        let file = directory.appendingPathComponent("mine.safetensors")
        // Nothing stated: the weight set's own.
        XCTAssertEqual(try settlePreprocessing(resnet, weightsFile: file, metadata: [:], statement: nil), resnet)

        // A sidecar mine.json states the mean and std; the input size stays the set's.
        let stated = PreprocessingStatement(mean: [0.6, 0.5, 0.4], std: [0.3, 0.2, 0.1])
        try JSONEncoder().encode(stated).write(to: sidecarURL(for: file))
        XCTAssertEqual(sidecarURL(for: file).lastPathComponent, "mine.json")
        let fromSidecar = try settlePreprocessing(resnet, weightsFile: file, metadata: [:], statement: nil)
        XCTAssertEqual(fromSidecar.preprocessing.mean, stated.mean)
        XCTAssertEqual(fromSidecar.preprocessing.std, stated.std)
        XCTAssertEqual(fromSidecar.preprocessing.inputSize, resnet.preprocessing.inputSize)
        XCTAssertEqual(fromSidecar.name, "resnet50")

        // Flags win over the sidecar, value by value.
        let flags = PreprocessingStatement(inputSize: 256, mean: [0.1, 0.2, 0.3])
        let fromFlags = try settlePreprocessing(resnet, weightsFile: file, metadata: [:], statement: flags)
        XCTAssertEqual(fromFlags.preprocessing.mean, flags.mean)
        XCTAssertEqual(fromFlags.preprocessing.std, stated.std)
        XCTAssertEqual(fromFlags.preprocessing.inputSize, 256)

        // What a statement cannot say.
        for (bad, phrase) in [(PreprocessingStatement(std: [0.2, 0, 0.2]), "std must be positive"),
                              (PreprocessingStatement(mean: [0.5, 0.5]), "mean must be 3 finite numbers"),
                              (PreprocessingStatement(inputSize: 100_000), "inputSize 100000"),
                              (PreprocessingStatement(architecture: "googlenet"), "states architecture 'googlenet'")] {
            try JSONEncoder().encode(bad).write(to: sidecarURL(for: file))
            XCTAssertThrowsError(try settlePreprocessing(resnet, weightsFile: file, metadata: [:], statement: nil)) { error in
                XCTAssertTrue(error.localizedDescription.contains(sidecarURL(for: file).path), error.localizedDescription)
                XCTAssertTrue(error.localizedDescription.contains(phrase), error.localizedDescription)
            }
        }
        try Data("{\"mean\": \"red\"}".utf8).write(to: sidecarURL(for: file))
        XCTAssertThrowsError(try settlePreprocessing(resnet, weightsFile: file, metadata: [:], statement: nil)) { error in
            XCTAssertTrue(error.localizedDescription.contains("mine.json"), error.localizedDescription)
        }
        XCTAssertThrowsError(try parseChannelValues("0.5,0.5", flag: "--mean")) { error in
            XCTAssertTrue(error.localizedDescription.contains("--mean"), error.localizedDescription)
        }
        XCTAssertEqual(try parseChannelValues("0.7, 0.5,0.6", flag: "--mean"), [0.7, 0.5, 0.6])
    }

    /// The bug: a Lunit trunk under `--backbone resnet50` was normalised with ImageNet statistics. A file that
    /// says which set it holds is now refused under another name, with the name to use.
    func testAFileHoldingAnotherWeightSetIsRefused() throws {
        let resnet = try XCTUnwrap(WeightSet.named("resnet50"))
        let fetched = directory.appendingPathComponent("lunit_swav.safetensors")
        XCTAssertThrowsError(try settlePreprocessing(resnet, weightsFile: fetched, metadata: ["name": "lunit_swav"], statement: nil)) { error in
            XCTAssertTrue(error.localizedDescription.contains(fetched.path), error.localizedDescription)
            XCTAssertTrue(error.localizedDescription.contains("--backbone lunit_swav"), error.localizedDescription)
        }
        // The published checkpoint passed as it is, recognised by its file name.
        let published = directory.appendingPathComponent("bt_rn50_ep200.torch")
        XCTAssertThrowsError(try settlePreprocessing(resnet, weightsFile: published, metadata: [:], statement: nil)) { error in
            XCTAssertTrue(error.localizedDescription.contains("--backbone lunit_bt"), error.localizedDescription)
        }
        let lunit = try XCTUnwrap(WeightSet.named("lunit_bt"))
        XCTAssertEqual(try settlePreprocessing(lunit, weightsFile: published, metadata: [:], statement: nil).preprocessing,
                       WeightSet.lunitPreprocessing)
        // Stating the preprocessing is the user's way to use the file anyway.
        let stated = try settlePreprocessing(resnet, weightsFile: fetched, metadata: ["name": "lunit_swav"],
                                             statement: PreprocessingStatement(mean: WeightSet.lunitPreprocessing.mean))
        XCTAssertEqual(stated.preprocessing.mean, WeightSet.lunitPreprocessing.mean)
    }
}
