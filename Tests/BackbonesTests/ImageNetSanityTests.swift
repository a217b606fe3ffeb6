import XCTest
import Backbones
import Imaging
import NeuralKernels
import TestSupport
import Weights

/// The real EfficientNet-Lite0 weights are ImageNet weights: on a photograph of a tabby cat
/// (skimage.data.chelsea, CC0) the top class is the reference package's, and a cat (ImageNet
/// classes 281–285). Reference logits from scripts/fixtures/backbone_fixtures_2.py.
final class ImageNetSanityTests: XCTestCase {
    struct Reference: Decodable {
        var image: String
        var height: Int
        var width: Int
        var top5: [Int]
        var top5Names: [String]
    }

    func testLite0RanksACatFirstOnChelsea() throws {
        let weightsURL = try liteWeightsOrSkip()
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: BackboneFixtures2.url("imagenet_sanity.json")))
        let image = try decodeImage(at: BackboneFixtures2.url(reference.image))
        XCTAssertEqual([image.height, image.width], [reference.height, reference.width])
        let network = try EfficientNetLite(weights: loadWeights(from: weightsURL))
        let input = Tensor(shape: [1, 3, image.height, image.width],
                           storage: normalizedPlanes(image, mean: WeightSet.reference(for: .efficientnetLite0).preprocessing.mean, std: WeightSet.reference(for: .efficientnetLite0).preprocessing.std))
        let logits = try XCTUnwrap(network.logits(input), "the Lite0 checkpoint has no classifier").storage
        XCTAssertEqual(logits.count, 1000)

        let expected = try BackboneFixtures2.numpy("imagenet_sanity_chelsea_logits.npy")
        let comparison = compare(logits, expected.values)
        print("efficientnet_lite0 chelsea logits: \(comparison)")
        XCTAssertLessThanOrEqual(comparison.relativeL2Error, 1e-4, "\(comparison)")

        let top5 = logits.indices.sorted { logits[$0] > logits[$1] }.prefix(5)
        print("efficientnet_lite0 chelsea top-5: \(Array(top5)), reference \(reference.top5) \(reference.top5Names)")
        XCTAssertEqual(top5.first, reference.top5[0], "top-1 differs from the reference package")
        XCTAssertTrue((281...285).contains(top5.first ?? -1), "top-1 \(top5.first ?? -1) is not an ImageNet cat class")
    }
}

/// The real Lite0 checkpoint (../shared/weights, or weights/ after `make run`), or a skip naming what is missing.
func liteWeightsOrSkip(file: StaticString = #filePath, function: String = #function) throws -> URL {
    try realLite0WeightsOrSkip(file: file, function: function)
}
