// GoogLeNet against torchvision (golden embeddings from scripts/fixtures/backbone_fixtures.py):
//   model = torchvision.models.googlenet(weights=None, aux_logits=False, transform_input=True, init_weights=False)
//   fill_state_dict(model); model.fc = torch.nn.Identity(); model.eval().double()(x)

import Backbones
import NeuralKernels
import TestSupport
import Weights
import XCTest

final class GoogLeNetTests: XCTestCase {
    func testGoogLeNetMatchesTorchvisionAtTwoSizes() throws {
        let fixtures = try BackboneFixtures()
        let network = try GoogLeNet(weights: SyntheticWeights.store(), context: KernelContext(threadCount: 2))
        XCTAssertEqual(network.transformInput, true)
        for (width, height) in BackboneFixtures.sizes {
            let embedding = network.embed(try fixtures.input(width: width, height: height))
            XCTAssertEqual(embedding.shape, [2, 1024, 1, 1])
            BackboneFixtures.assertMatchesTorchvision(embedding, try fixtures.embeddings(network: "googlenet", width: width, height: height),
                                                      "googlenet \(width)x\(height)")
        }
    }

    func testTransformInputMatters() throws {
        // Without transform_input the same weights give a clearly different embedding: the flag is not a no-op.
        let fixtures = try BackboneFixtures()
        let input = try fixtures.input(width: 224, height: 224)
        let with = try GoogLeNet(weights: SyntheticWeights.store()).embed(input)
        let without = try GoogLeNet(weights: SyntheticWeights.store(), transformInput: false).embed(input)
        XCTAssertGreaterThan(compare(without.storage, with.storage).relativeL2Error, 1e-3)
    }

    func testGoogLeNetSameEmbeddingForAnyBatchSizeAndThreadCount() throws {
        let fixtures = try BackboneFixtures()
        var network = try GoogLeNet(weights: SyntheticWeights.store())
        BackboneFixtures.assertBatchAndThreadInvariant(try fixtures.input(width: 224, height: 224), embed: { input, context in
            network.context = context
            return network.embed(input)
        }, "googlenet")
    }

    func testRegistryBuildsBothAndNamesTheMissingOnes() throws {
        let resnet = try makeBackbone(.resnet50, weights: SyntheticWeights.store(), context: KernelContext(threadCount: 1))
        XCTAssertEqual(resnet.name, "resnet50")
        XCTAssertEqual(resnet.embeddingWidth, 2048)
        let googlenet = try makeBackbone(.googlenet, weights: SyntheticWeights.store(), context: KernelContext(threadCount: 1))
        XCTAssertEqual(googlenet.embeddingWidth, 1024)
        XCTAssertEqual(BackboneName.googlenet.referencePreprocessing.transformInput, true)
        XCTAssertEqual(BackboneName.inceptionV3.referencePreprocessing.inputSize, 299)
        XCTAssertEqual(BackboneName(rawValue: "efficientnet_v2_s"), .efficientnetV2S)
        // Lite0: (x * 255 - 127) / 128 == (x - mean) / std.
        let lite = BackboneName.efficientnetLite0.referencePreprocessing
        XCTAssertEqual((0.5 - lite.mean[0]) / lite.std[0], (0.5 * 255 - 127) / 128, accuracy: 1e-6)
    }
}
