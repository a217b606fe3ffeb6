import XCTest
import Backbones
import NeuralKernels
import TestSupport

/// Inception-V3 with synthetic weights (spec v1) against torchvision's inception_v3
/// (transform_input=True, fc → Identity), fixtures from scripts/fixtures/backbone_fixtures_2.py.
final class InceptionV3Tests: XCTestCase {
    func testMatchesTorchvisionAtNativeAndOddSizes() throws {
        let network = try InceptionV3(weights: SyntheticWeights.store())
        for (height, width) in [(299, 299), (257, 301)] {
            let input = try BackboneFixtures2.katherInput(height: height, width: width, preprocessing: network.preprocessing)
            let expected = try BackboneFixtures2.numpy("inception_v3_synthetic_\(height)x\(width).npy")
            _ = BackboneFixtures2.assertMatches(network.embed(input), expected, "inception_v3 \(height)x\(width)")
        }
    }

    func testPreprocessingIsTorchvisions() throws {
        let network = try InceptionV3(weights: SyntheticWeights.store())
        XCTAssertEqual(network.preprocessing.inputSize, 299)
        XCTAssertTrue(network.preprocessing.transformInput)
        XCTAssertEqual(network.preprocessing.mean, Preprocessing.imageNet.mean)
        XCTAssertEqual(network.preprocessing.std, Preprocessing.imageNet.std)
        XCTAssertEqual(network.embeddingWidth, 2048)
    }
}
