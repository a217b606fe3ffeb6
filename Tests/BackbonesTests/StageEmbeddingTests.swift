// Multi-stage embeddings (`Backbone.embedStages`) against the reference implementations'
// intermediate outputs, read with forward hooks by scripts/fixtures/stage_fixtures.py:
// torchvision for ResNet-50, GoogLeNet, Inception-V3 and EfficientNet-V2-S, the PyPI package
// efficientnet-lite-pytorch 0.1.0 for Lite0 (synthetic weights spec v1; Lite0 also with its
// real weights on three OxML images at native size). Same tolerance as the final embedding.

import XCTest
import Backbones
import Imaging
import NeuralKernels
import TestSupport
import Weights

final class StageEmbeddingTests: XCTestCase {
    struct Manifest: Decodable {
        struct Block: Decodable { var name: String; var width: Int }
        struct Network: Decodable { var blocks: [Block]; var files: [String] }
        var version: Int
        var height: Int
        var width: Int
        var networks: [String: Network]
        var oxmlImages: [String]?
    }

    func manifest() throws -> Manifest {
        try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: BackboneFixtures2.url("stages/manifest.json")))
    }

    /// Every block of every row within the final embedding's tolerance of the reference; the last block is
    /// bit for bit `embed`'s output (the stage pass runs the same forward).
    func check(_ network: any Backbone, input: Tensor, expectedFile: String, blocks: [Manifest.Block]) throws {
        XCTAssertEqual(network.stageBlocks.map(\.name), blocks.map(\.name), network.name)
        XCTAssertEqual(network.stageBlocks.map(\.width), blocks.map(\.width), network.name)
        XCTAssertEqual(network.stageBlocks.last?.width, network.embeddingWidth, network.name)
        let expected = try BackboneFixtures2.numpy("stages/" + expectedFile)
        let stages = network.embedStages(input)
        let total = blocks.reduce(0) { $0 + $1.width }
        XCTAssertEqual(stages.shape, [input.batch, total, 1, 1], network.name)
        guard stages.shape == [input.batch, total, 1, 1], expected.shape == [input.batch, total] else {
            return XCTFail("\(network.name): shapes \(stages.shape) vs fixture \(expected.shape)")
        }
        var start = 0
        for block in blocks {
            var actual = Tensor(shape: [input.batch, block.width, 1, 1])
            var reference = NumpyFixture(shape: [input.batch, block.width], values: [])
            for image in 0..<input.batch {
                let range = (image * total + start)..<(image * total + start + block.width)
                for (offset, index) in range.enumerated() { actual.storage[image * block.width + offset] = stages.storage[index] }
                reference.values += expected.values[range]
            }
            _ = BackboneFixtures2.assertMatches(actual, reference, "\(network.name) \(expectedFile) \(block.name)")
            start += block.width
        }
        let final = network.embed(input)
        let width = network.embeddingWidth
        for image in 0..<input.batch {
            XCTAssertEqual(Array(stages.storage[((image + 1) * total - width)..<((image + 1) * total)]),
                           Array(final.storage[(image * width)..<((image + 1) * width)]), "\(network.name): last block is embed")
        }
    }

    func testEveryNetworkMatchesTheReferenceIntermediateOutputs() throws {
        let manifest = try manifest()
        XCTAssertEqual(manifest.version, 1)
        for name in BackboneName.allCases {
            guard let entry = manifest.networks[name.rawValue] else { return XCTFail("no fixture for \(name.rawValue)") }
            let network = try makeBackbone(name, weights: SyntheticWeights.store())
            let input = try BackboneFixtures2.katherInput(height: manifest.height, width: manifest.width,
                                                          preprocessing: WeightSet.reference(for: name).preprocessing)
            try check(network, input: input, expectedFile: "\(name.rawValue)_synthetic_\(manifest.height)x\(manifest.width).npy",
                      blocks: entry.blocks)
        }
    }

    func testStagesDoNotDependOnBatchOrThreads() throws {
        let network = try EfficientNetLite(weights: SyntheticWeights.store(), context: BackboneFixtures2.severalThreads)
        let singleThreaded = try EfficientNetLite(weights: SyntheticWeights.store(), context: .singleThread)
        let input = try BackboneFixtures2.katherInput(height: 97, width: 131, preprocessing: WeightSet.reference(for: .efficientnetLite0).preprocessing)
        BackboneFixtures2.assertBatchAndThreadIndependent(singleThreaded.embedStages(BackboneFixtures2.image(input, 1)),
                                                          network.embedStages(input), index: 1, "efficientnet_lite0 stages")
    }

    /// REAL Lite0 weights on three OxML images at their native size (needs ../shared).
    func testRealLite0StagesMatchThePackageOnOxMLImages() throws {
        let weightsURL = try liteWeightsOrSkip()
        let manifest = try manifest()
        guard let images = manifest.oxmlImages, let entry = manifest.networks["efficientnet_lite0"] else {
            throw XCTSkip("the stage fixtures were generated without ../shared")
        }
        let oxml = weightsURL.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("data/oxml")
        let network = try EfficientNetLite(weights: loadWeights(from: weightsURL))
        let expected = try BackboneFixtures2.numpy("stages/efficientnet_lite0_oxml_native.npy")
        let total = entry.blocks.reduce(0) { $0 + $1.width }
        for (index, file) in images.enumerated() {
            let url = oxml.appendingPathComponent(file)
            guard FileManager.default.fileExists(atPath: url.path) else { throw XCTSkip("\(url.path) is absent") }
            let image = try decodeImage(at: url)
            let input = Tensor(shape: [1, 3, image.height, image.width],
                               storage: normalizedPlanes(image, mean: WeightSet.reference(for: .efficientnetLite0).preprocessing.mean, std: WeightSet.reference(for: .efficientnetLite0).preprocessing.std))
            let one = NumpyFixture(shape: [1, total], values: Array(expected.values[(index * total)..<((index + 1) * total)]))
            try checkRow(network, input: input, expected: one, blocks: entry.blocks, label: file)
        }
    }

    func checkRow(_ network: any Backbone, input: Tensor, expected: NumpyFixture, blocks: [Manifest.Block], label: String) throws {
        let stages = network.embedStages(input)
        var start = 0
        for block in blocks {
            let actual = Tensor(shape: [1, block.width, 1, 1], storage: Array(stages.storage[start..<(start + block.width)]))
            let reference = NumpyFixture(shape: [1, block.width], values: Array(expected.values[start..<(start + block.width)]))
            _ = BackboneFixtures2.assertMatches(actual, reference, "\(network.name) \(label) \(block.name)")
            start += block.width
        }
    }
}
