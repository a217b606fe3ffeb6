import XCTest
import Backbones
import NeuralKernels
import Imaging
import TestSupport
import Weights

/// EfficientNet-Lite0 … Lite4 against the PyPI package efficientnet-lite-pytorch 0.1.0
/// (`EfficientNet.from_name("efficientnet-liteN")`; fixtures from
/// `python3 scripts/fixtures/backbone_fixtures_2.py lite-variants`).
final class EfficientNetLiteVariantTests: XCTestCase {
    struct Manifest: Decodable {
        struct Stage: Decodable {
            var repeats: Int, kernel: Int, stride: Int, expandRatio: Int, inChannels: Int, outChannels: Int
        }
        struct Variant: Decodable {
            var inputSize: Int
            var blockCount: Int
            var stages: [Stage]
            var weights: String?
            var weightsSHA256: String?
        }
        var version: Int
        var syntheticHeight: Int
        var syntheticWidth: Int
        var oxmlImages: [String]
        var variants: [String: Variant]
    }

    func manifest() throws -> Manifest {
        try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: BackboneFixtures2.url("efficientnet_lite_variants.json")))
    }

    /// The stages derived from Lite0's block strings by the coefficients are the ones the package builds,
    /// and the input size is the package's resolution.
    func testStagesAndResolutionAreThePackages() throws {
        let manifest = try manifest()
        XCTAssertEqual(manifest.version, 1)
        XCTAssertEqual(Set(manifest.variants.keys), Set(EfficientNetLite.Variant.allCases.map(\.rawValue)))
        for variant in EfficientNetLite.Variant.allCases {
            let reference = try XCTUnwrap(manifest.variants[variant.rawValue], variant.rawValue)
            XCTAssertEqual(variant.inputSize, reference.inputSize, variant.rawValue)
            XCTAssertEqual(variant.stages, reference.stages.map {
                EfficientNetLite.StageConfiguration(repeats: $0.repeats, kernel: $0.kernel, stride: $0.stride,
                                                    expandRatio: $0.expandRatio, inChannels: $0.inChannels, outChannels: $0.outChannels)
            }, variant.rawValue)
            XCTAssertEqual(variant.stages.map(\.repeats).reduce(0, +), reference.blockCount, variant.rawValue)
        }
    }

    /// Synthetic weights (spec v1) at a small odd size, every variant.
    func testSyntheticWeightsMatchTheReferencePackage() throws {
        let manifest = try manifest()
        let (height, width) = (manifest.syntheticHeight, manifest.syntheticWidth)
        let input = try BackboneFixtures2.katherInput(height: height, width: width,
                                                      preprocessing: WeightSet.reference(for: .efficientnetLite0).preprocessing)
        for variant in EfficientNetLite.Variant.allCases {
            let network = try EfficientNetLite(weights: SyntheticWeights.store(), variant: variant)
            XCTAssertEqual(network.name, variant.rawValue)
            XCTAssertEqual(network.stageBlocks.last?.width, 1280, "the head is not scaled")
            let expected = try BackboneFixtures2.numpy("\(variant.rawValue)_synthetic_\(height)x\(width).npy")
            _ = BackboneFixtures2.assertMatches(network.embed(input), expected, "\(variant.rawValue) synthetic \(height)x\(width)")
        }
    }

    /// The names with weights to fetch build their variant and carry the TF Lite normalisation at its resolution.
    func testRegistryBuildsTheVariantsWithTheirPreprocessing() throws {
        let manifest = try manifest()
        for (name, variant) in [(BackboneName.efficientnetLite0, EfficientNetLite.Variant.lite0), (.efficientnetLite1, .lite1),
                                (.efficientnetLite2, .lite2)] {
            XCTAssertEqual(name.rawValue, variant.rawValue)
            let network = try XCTUnwrap(try makeBackbone(name, weights: SyntheticWeights.store(), context: .singleThread) as? EfficientNetLite)
            XCTAssertEqual(network.variant, variant)
            let preprocessing = WeightSet.reference(for: name).preprocessing
            XCTAssertEqual(preprocessing.inputSize, manifest.variants[name.rawValue]?.inputSize, name.rawValue)
            for pixel: Float in [0, 0.5, 1] {   // (255 x − 127) / 128
                XCTAssertEqual((pixel - preprocessing.mean[0]) / preprocessing.std[0], (255 * pixel - 127) / 128, accuracy: 1e-6)
            }
            let entry = try WeightCatalog.entry(named: name.rawValue)
            XCTAssertEqual(entry.fileName, manifest.variants[name.rawValue]?.weights ?? entry.fileName, name.rawValue)
            if let sha256 = manifest.variants[name.rawValue]?.weightsSHA256, let prefix = entry.hashPrefix {
                XCTAssertTrue(sha256.hasPrefix(prefix), "\(entry.fileName): the generator's file hashes to \(sha256)")
            }
        }
    }

    /// REAL Lite1 and Lite2 weights (../shared/weights or weights/ after `carcinoma weights fetch`) on the
    /// 3 OxML images at native size (read from ../shared, never committed).
    func testRealWeightsMatchTheReferencePackageOnOxMLImages() throws {
        let manifest = try manifest()
        var checked = 0
        for name in [BackboneName.efficientnetLite1, .efficientnetLite2] {
            let fileName = try WeightCatalog.entry(named: name.rawValue).fileName
            let weightsURL: URL
            do { weightsURL = try realWeightsOrSkip(fileName: fileName, name: name.rawValue) } catch let skip as XCTSkip {
                print("\(name.rawValue) skipped: \(skip.message ?? "no reason given")")
                continue
            }
            guard manifest.variants[name.rawValue]?.weights == fileName else {
                throw XCTSkip("the fixtures were generated without the \(name.rawValue) weights: run "
                    + "`python3 scripts/fixtures/backbone_fixtures_2.py lite-variants` after `carcinoma weights fetch \(name.rawValue)`")
            }
            guard let shared = sharedDirectory() else { throw XCTSkip("../shared is absent: the OxML images are not available") }
            let expected = try BackboneFixtures2.numpy("\(name.rawValue)_oxml_native.npy")
            let network = try makeBackbone(name, weights: loadWeights(from: weightsURL))
            let preprocessing = WeightSet.reference(for: name).preprocessing
            for (index, file) in manifest.oxmlImages.enumerated() {
                let url = shared.appendingPathComponent("data/oxml").appendingPathComponent(file)
                guard FileManager.default.fileExists(atPath: url.path) else { throw XCTSkip("\(url.path) is absent") }
                let image = try decodeImage(at: url)
                let input = Tensor(shape: [1, 3, image.height, image.width],
                                   storage: normalizedPlanes(image, mean: preprocessing.mean, std: preprocessing.std))
                let row = NumpyFixture(shape: [1, 1280], values: Array(expected.values[(index * 1280)..<((index + 1) * 1280)]))
                _ = BackboneFixtures2.assertMatches(network.embed(input), row, "\(name.rawValue) \(file) native")
            }
            checked += 1
        }
        if checked == 0 { throw XCTSkip("no real Lite1 / Lite2 weights: `carcinoma weights fetch efficientnet_lite1` (and lite2)") }
    }
}
