import XCTest
import Backbones
import NeuralKernels
import TestSupport

/// EfficientNet-Lite0 against the PyPI package efficientnet-lite-pytorch 0.1.0
/// (fixtures from scripts/fixtures/backbone_fixtures_2.py).
final class EfficientNetLiteTests: XCTestCase {
    /// Synthetic weights (spec v1): 224 x 224 and 257 x 301, where TF SAME padding is asymmetric.
    func testSyntheticWeightsMatchTheReferencePackage() throws {
        let network = try EfficientNetLite(weights: SyntheticWeights.store())
        for (height, width) in [(224, 224), (257, 301)] {
            let input = try BackboneFixtures2.katherInput(height: height, width: width, preprocessing: network.preprocessing)
            let expected = try BackboneFixtures2.numpy("efficientnet_lite0_synthetic_\(height)x\(width).npy")
            _ = BackboneFixtures2.assertMatches(network.embed(input), expected, "efficientnet_lite0 synthetic \(height)x\(width)")
        }
    }

    func testPreprocessingIsTheTFLiteNormalisation() throws {
        let network = try EfficientNetLite(weights: SyntheticWeights.store())
        XCTAssertEqual(network.preprocessing.inputSize, 224)
        // (255 x − 127) / 128 for a pixel x in [0, 1]
        for pixel: Float in [0, 0.5, 1] {
            let normalised = (pixel - network.preprocessing.mean[0]) / network.preprocessing.std[0]
            XCTAssertEqual(normalised, (255 * pixel - 127) / 128, accuracy: 1e-6)
        }
        XCTAssertEqual(network.embeddingWidth, 1280)
    }

    func testEmbeddingDoesNotDependOnBatchOrThreads() throws {
        let network = try EfficientNetLite(weights: SyntheticWeights.store())
        let singleThreaded = try EfficientNetLite(weights: SyntheticWeights.store(), context: .singleThread)
        let input = try BackboneFixtures2.katherInput(height: 257, width: 301, preprocessing: network.preprocessing)
        BackboneFixtures2.assertBatchAndThreadIndependent(singleThreaded.embed(BackboneFixtures2.image(input, 1)),
                                                          network.embed(input), index: 1, "efficientnet_lite0")
    }

    /// The registry builds all three networks of this file's generator, and its preprocessing
    /// table states what each network says it needs.
    func testRegistryBuildsInceptionAndEfficientNetsWithTheirPreprocessing() throws {
        for name in [BackboneName.inceptionV3, .efficientnetV2S, .efficientnetLite0] {
            let network = try makeBackbone(name, weights: SyntheticWeights.store(), context: .singleThread)
            XCTAssertEqual(network.name, name.rawValue)
            XCTAssertEqual(network.preprocessing, name.preprocessing, name.rawValue)
        }
    }
}
