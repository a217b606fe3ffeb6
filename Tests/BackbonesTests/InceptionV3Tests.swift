import XCTest
import Backbones
import NeuralKernels
import TestSupport
import Weights

/// Inception-V3 with synthetic weights (spec v1) against torchvision's inception_v3
/// (transform_input=True, fc → Identity), fixtures from scripts/fixtures/backbone_fixtures_2.py.
final class InceptionV3Tests: XCTestCase {
    func testMatchesTorchvisionAtNativeOddAndMinimumSizes() throws {
        let network = try InceptionV3(weights: SyntheticWeights.store())
        for (height, width) in [(299, 299), (257, 301), (75, 75)] {
            let input = try BackboneFixtures2.katherInput(height: height, width: width, preprocessing: WeightSet.reference(for: .inceptionV3).preprocessing)
            let expected = try BackboneFixtures2.numpy("inception_v3_synthetic_\(height)x\(width).npy")
            _ = BackboneFixtures2.assertMatches(network.embed(input), expected, "inception_v3 \(height)x\(width)")
        }
    }

    func testPreprocessingIsTorchvisions() throws {
        let network = try InceptionV3(weights: SyntheticWeights.store())
        XCTAssertEqual(WeightSet.reference(for: .inceptionV3).preprocessing.inputSize, 299)
        XCTAssertTrue(WeightSet.reference(for: .inceptionV3).preprocessing.transformInput)
        XCTAssertEqual(WeightSet.reference(for: .inceptionV3).preprocessing.mean, Preprocessing.imageNet.mean)
        XCTAssertEqual(WeightSet.reference(for: .inceptionV3).preprocessing.std, Preprocessing.imageNet.std)
        XCTAssertEqual(network.embeddingWidth, 2048)
    }

    func testEmbeddingDoesNotDependOnBatchOrThreads() throws {
        let network = try InceptionV3(weights: SyntheticWeights.store(), context: BackboneFixtures2.severalThreads)
        let singleThreaded = try InceptionV3(weights: SyntheticWeights.store(), context: .singleThread)
        let input = try BackboneFixtures2.katherInput(height: 257, width: 301, preprocessing: WeightSet.reference(for: .inceptionV3).preprocessing)
        BackboneFixtures2.assertBatchAndThreadIndependent(singleThreaded.embed(BackboneFixtures2.image(input, 1)),
                                                          network.embed(input), index: 1, "inception_v3")
    }

    func testCheckpointOfTheWrongShapeNamesTheTensor() {
        let store = WeightStore(tensors: ["Conv2d_1a_3x3.conv.weight": WeightTensor(shape: [32, 3, 5, 5], values: [Float](repeating: 0, count: 2400))],
                                source: "other.safetensors")
        XCTAssertThrowsError(try InceptionV3(weights: store)) { error in
            XCTAssertEqual(error as? WeightsError, .unexpectedShape(key: "Conv2d_1a_3x3.conv.weight", expected: [32, 3, 3, 3],
                                                                    actual: [32, 3, 5, 5], file: "other.safetensors"))
        }
    }
}
