import XCTest
import Backbones
import NeuralKernels
import Imaging
import TestSupport
import Weights

/// EfficientNet-Lite0 against the PyPI package efficientnet-lite-pytorch 0.1.0
/// (fixtures from scripts/fixtures/backbone_fixtures_2.py).
final class EfficientNetLiteTests: XCTestCase {
    /// Synthetic weights (spec v1): 224 x 224 and 257 x 301, where TF SAME padding is asymmetric.
    func testSyntheticWeightsMatchTheReferencePackage() throws {
        let network = try EfficientNetLite(weights: SyntheticWeights.store())
        for (height, width) in [(224, 224), (257, 301)] {
            let input = try BackboneFixtures2.katherInput(height: height, width: width, preprocessing: WeightSet.reference(for: .efficientnetLite0).preprocessing)
            let expected = try BackboneFixtures2.numpy("efficientnet_lite0_synthetic_\(height)x\(width).npy")
            _ = BackboneFixtures2.assertMatches(network.embed(input), expected, "efficientnet_lite0 synthetic \(height)x\(width)")
        }
    }

    func testPreprocessingIsTheTFLiteNormalisation() throws {
        let network = try EfficientNetLite(weights: SyntheticWeights.store())
        XCTAssertEqual(WeightSet.reference(for: .efficientnetLite0).preprocessing.inputSize, 224)
        // (255 x − 127) / 128 for a pixel x in [0, 1]
        for pixel: Float in [0, 0.5, 1] {
            let normalised = (pixel - WeightSet.reference(for: .efficientnetLite0).preprocessing.mean[0]) / WeightSet.reference(for: .efficientnetLite0).preprocessing.std[0]
            XCTAssertEqual(normalised, (255 * pixel - 127) / 128, accuracy: 1e-6)
        }
        XCTAssertEqual(network.embeddingWidth, 1280)
    }

    func testEmbeddingDoesNotDependOnBatchOrThreads() throws {
        let network = try EfficientNetLite(weights: SyntheticWeights.store(), context: BackboneFixtures2.severalThreads)
        let singleThreaded = try EfficientNetLite(weights: SyntheticWeights.store(), context: .singleThread)
        let input = try BackboneFixtures2.katherInput(height: 257, width: 301, preprocessing: WeightSet.reference(for: .efficientnetLite0).preprocessing)
        BackboneFixtures2.assertBatchAndThreadIndependent(singleThreaded.embed(BackboneFixtures2.image(input, 1)),
                                                          network.embed(input), index: 1, "efficientnet_lite0")
    }

    /// The registry builds all three networks of this file's generator, and the weight set's
    /// transform_input reaches the network that applies it.
    func testRegistryBuildsInceptionAndEfficientNetsWithTheirPreprocessing() throws {
        for name in [BackboneName.inceptionV3, .efficientnetV2S, .efficientnetLite0] {
            let network = try makeBackbone(name, weights: SyntheticWeights.store(), context: .singleThread)
            XCTAssertEqual(network.name, name.rawValue)
            if let inception = network as? InceptionV3 {
                XCTAssertEqual(inception.transformInput, WeightSet.reference(for: name).preprocessing.transformInput)
            }
        }
    }

    struct OxMLReference: Decodable {
        struct Image: Decodable { var file: String; var height: Int; var width: Int; var cropTop: Int; var cropLeft: Int }
        var weightsSHA256: String
        var images: [Image]
    }

    /// REAL weights on 3 OxML images (read from ../shared, never committed), as a 224 x 224
    /// crop and at native size (TF SAME padding recomputed for each size).
    func testRealWeightsMatchTheReferencePackageOnOxMLImages() throws {
        let weightsURL = try liteWeightsOrSkip()
        guard let shared = sharedDirectory() else { throw XCTSkip("../shared is absent: the OxML images are not available") }
        let oxml = shared.appendingPathComponent("data/oxml")
        let reference = try JSONDecoder().decode(OxMLReference.self,
                                                 from: Data(contentsOf: BackboneFixtures2.url("efficientnet_lite0_oxml.json")))
        let crops = try BackboneFixtures2.numpy("efficientnet_lite0_oxml_crop224.npy")
        let natives = try BackboneFixtures2.numpy("efficientnet_lite0_oxml_native.npy")
        let network = try EfficientNetLite(weights: loadWeights(from: weightsURL))
        let mean = WeightSet.reference(for: .efficientnetLite0).preprocessing.mean, std = WeightSet.reference(for: .efficientnetLite0).preprocessing.std
        func tensor(_ image: RGBImage) -> Tensor {
            Tensor(shape: [1, 3, image.height, image.width], storage: normalizedPlanes(image, mean: mean, std: std))
        }
        func expected(_ fixture: NumpyFixture, _ index: Int) -> NumpyFixture {
            NumpyFixture(shape: [1, 1280], values: Array(fixture.values[(index * 1280)..<((index + 1) * 1280)]))
        }
        XCTAssertEqual(reference.images.count, 3)
        for (index, entry) in reference.images.enumerated() {
            let url = oxml.appendingPathComponent(entry.file)
            guard FileManager.default.fileExists(atPath: url.path) else { throw XCTSkip("\(url.path) is absent") }
            let image = try decodeImage(at: url)
            XCTAssertEqual([image.height, image.width], [entry.height, entry.width], entry.file)
            let cropped = crop(image, x: entry.cropLeft, y: entry.cropTop, width: 224, height: 224)
            _ = BackboneFixtures2.assertMatches(network.embed(tensor(cropped)), expected(crops, index),
                                                "efficientnet_lite0 \(entry.file) crop 224x224")
            _ = BackboneFixtures2.assertMatches(network.embed(tensor(image)), expected(natives, index),
                                                "efficientnet_lite0 \(entry.file) native \(entry.height)x\(entry.width)")
        }
    }

    /// The opt-in bfloat16 convolutions on the machine's bfloat16 unit (AMX or AVX512-BF16: NeuralKernels/AMXGemm.swift), REAL weights, the same 3 OxML images at
    /// native size against the reference package's float32 embeddings: bf16x3 within a cosine of 0.9999 (the
    /// bar for a precision that may stand in for float32); bf16 within 0.999 (it measures ~0.9997: printed).
    func testReducedPrecisionEmbeddingsOnOxMLImages() throws {
        if let reason = Precision.bfloat16.unsupportedReason { throw XCTSkip("skipped: no bfloat16 unit: \(reason)") }
        let weightsURL = try liteWeightsOrSkip()
        guard let shared = sharedDirectory() else { throw XCTSkip("../shared is absent: the OxML images are not available") }
        let reference = try JSONDecoder().decode(OxMLReference.self,
                                                 from: Data(contentsOf: BackboneFixtures2.url("efficientnet_lite0_oxml.json")))
        let natives = try BackboneFixtures2.numpy("efficientnet_lite0_oxml_native.npy")
        let preprocessing = WeightSet.reference(for: .efficientnetLite0).preprocessing
        for (precision, bar) in [(Precision.bfloat16x3, 0.9999), (.bfloat16, 0.999)] {
            let network = try EfficientNetLite(weights: loadWeights(from: weightsURL), context: KernelContext(precision: precision))
            for (index, entry) in reference.images.enumerated() {
                let url = shared.appendingPathComponent("data/oxml").appendingPathComponent(entry.file)
                guard FileManager.default.fileExists(atPath: url.path) else { throw XCTSkip("\(url.path) is absent") }
                let image = try decodeImage(at: url)
                let input = Tensor(shape: [1, 3, image.height, image.width],
                                   storage: normalizedPlanes(image, mean: preprocessing.mean, std: preprocessing.std))
                let embedding = network.embed(input).storage.map(Double.init)
                let expected = natives.values[(index * 1280)..<((index + 1) * 1280)].map(Double.init)
                let dot = zip(embedding, expected).reduce(0) { $0 + $1.0 * $1.1 }
                let cosine = dot / (embedding.reduce(0) { $0 + $1 * $1 }.squareRoot() * expected.reduce(0) { $0 + $1 * $1 }.squareRoot())
                print("\(precision.rawValue) \(entry.file) native \(entry.height)x\(entry.width): cosine to float32 \(cosine)")
                XCTAssertGreaterThanOrEqual(cosine, bar, "\(precision.rawValue) \(entry.file)")
            }
        }
    }
}
