import XCTest
import Backbones
import NeuralKernels
import TestSupport

/// EfficientNet-V2-S with synthetic weights (spec v1) against torchvision's efficientnet_v2_s
/// (classifier → Identity), fixtures from scripts/fixtures/backbone_fixtures_2.py.
final class EfficientNetV2Tests: XCTestCase {
    func testMatchesTorchvisionAtNativeAndOddSizes() throws {
        let network = try EfficientNetV2(weights: SyntheticWeights.store())
        for (height, width) in [(384, 384), (257, 301)] {
            let input = try BackboneFixtures2.katherInput(height: height, width: width, preprocessing: WeightSet.reference(for: .efficientnetV2S).preprocessing)
            let expected = try BackboneFixtures2.numpy("efficientnet_v2_s_synthetic_\(height)x\(width).npy")
            _ = BackboneFixtures2.assertMatches(network.embed(input), expected, "efficientnet_v2_s \(height)x\(width)")
        }
    }

    func testPreprocessingIsTorchvisions() throws {
        let network = try EfficientNetV2(weights: SyntheticWeights.store())
        XCTAssertEqual(WeightSet.reference(for: .efficientnetV2S).preprocessing.inputSize, 384)
        XCTAssertFalse(WeightSet.reference(for: .efficientnetV2S).preprocessing.transformInput)
        XCTAssertEqual(WeightSet.reference(for: .efficientnetV2S).preprocessing.mean, Preprocessing.imageNet.mean)
        XCTAssertEqual(network.embeddingWidth, 1280)
    }

    func testEmbeddingDoesNotDependOnBatchOrThreads() throws {
        let network = try EfficientNetV2(weights: SyntheticWeights.store(), context: BackboneFixtures2.severalThreads)
        let singleThreaded = try EfficientNetV2(weights: SyntheticWeights.store(), context: .singleThread)
        let input = try BackboneFixtures2.katherInput(height: 257, width: 301, preprocessing: WeightSet.reference(for: .efficientnetV2S).preprocessing)
        BackboneFixtures2.assertBatchAndThreadIndependent(singleThreaded.embed(BackboneFixtures2.image(input, 1)),
                                                          network.embed(input), index: 1, "efficientnet_v2_s")
    }
}
