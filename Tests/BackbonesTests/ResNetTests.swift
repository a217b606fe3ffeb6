// ResNet against torchvision (golden embeddings from scripts/fixtures/backbone_fixtures.py):
//   model = torchvision.models.resnet50(weights=None); fill_state_dict(model)   # synthetic spec v1
//   model.fc = torch.nn.Identity(); model.eval().double()(x)                      # x: 2 x 3 x H x W

import Backbones
import NeuralKernels
import TestSupport
import Weights
import XCTest

final class ResNetTests: XCTestCase {
    func testResNet50MatchesTorchvisionAtTwoSizes() throws {
        let fixtures = try BackboneFixtures()
        let network = try ResNet(depth: .resNet50, weights: SyntheticWeights.store(), context: KernelContext(threadCount: 2))
        XCTAssertEqual(network.embeddingWidth, 2048)
        for (width, height) in BackboneFixtures.sizes {
            let input = try fixtures.input(width: width, height: height)
            let embedding = network.embed(input)
            XCTAssertEqual(embedding.shape, [2, 2048, 1, 1])
            BackboneFixtures.assertMatchesTorchvision(embedding, try fixtures.embeddings(network: "resnet50", width: width, height: height),
                                                      "resnet50 \(width)x\(height)")
        }
    }

    func testResNet50WithoutWinogradMatchesTorchvisionToo() throws {
        let fixtures = try BackboneFixtures()
        let network = try ResNet(depth: .resNet50, weights: SyntheticWeights.store(), context: KernelContext(threadCount: 2, winograd: false))
        BackboneFixtures.assertMatchesTorchvision(network.embed(try fixtures.input(width: 224, height: 224)),
                                                  try fixtures.embeddings(network: "resnet50", width: 224, height: 224),
                                                  "resnet50 224x224 im2col only")
    }

    func testResNet18MatchesTorchvision() throws {
        let fixtures = try BackboneFixtures()
        let network = try ResNet(depth: .resNet18, weights: SyntheticWeights.store(), context: KernelContext(threadCount: 2))
        for (width, height) in BackboneFixtures.sizes {
            BackboneFixtures.assertMatchesTorchvision(network.embed(try fixtures.input(width: width, height: height)),
                                                      try fixtures.embeddings(network: "resnet18", width: width, height: height),
                                                      "resnet18 \(width)x\(height)")
        }
    }

    /// The file path: synthetic ResNet-18 weights (plus fc and num_batches_tracked, as a real
    /// torchvision state_dict has them) written to a safetensors file, loaded back strictly.
    func testResNet18ThroughSafetensorsFileMatchesTorchvision() throws {
        let fixtures = try BackboneFixtures()
        var shapes = resNet18StateDictShapes()
        shapes["fc.weight"] = [1000, 512]
        shapes["fc.bias"] = [1000]
        for key in shapes.keys where key.hasSuffix("running_var") {
            shapes[key.replacingOccurrences(of: "running_var", with: "num_batches_tracked")] = []
        }
        let tensors = Dictionary(uniqueKeysWithValues: shapes.map { key, shape in
            (key, WeightTensor(shape: shape, values: SyntheticWeights.values(name: key, shape: shape)))
        })
        let directory = try temporaryDirectory("resnet18")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("resnet18.safetensors")
        try writeSafetensors(tensors, to: file, metadata: ["source": "synthetic weights v1"])
        let network = try ResNet(depth: .resNet18, weights: try loadWeights(from: file), context: KernelContext(threadCount: 2))
        BackboneFixtures.assertMatchesTorchvision(network.embed(try fixtures.input(width: 224, height: 224)),
                                                  try fixtures.embeddings(network: "resnet18", width: 224, height: 224),
                                                  "resnet18 from safetensors 224x224")
    }

    func testResNet50SameEmbeddingForAnyBatchSizeAndThreadCount() throws {
        let fixtures = try BackboneFixtures()
        var network = try ResNet(depth: .resNet50, weights: SyntheticWeights.store())
        BackboneFixtures.assertBatchAndThreadInvariant(try fixtures.input(width: 301, height: 257), embed: { input, context in
            network.context = context
            return network.embed(input)
        }, "resnet50")
    }

    func testDepthsHaveTorchvisionBlockCountsAndTakeAnySize() throws {
        XCTAssertEqual(ResNet.Depth.resNet50.blockCounts, [3, 4, 6, 3])
        XCTAssertEqual(ResNet.Depth.resNet152.blockCounts, [3, 8, 36, 3])
        // ResNet-34 (basic blocks, 3-4-6-3) on a tiny odd image still ends in 512 pooled features.
        let network = try ResNet(depth: .resNet34, weights: SyntheticWeights.store(), context: KernelContext(threadCount: 1))
        XCTAssertEqual(network.embed(Tensor(shape: [1, 3, 33, 17], repeating: 0.5)).shape, [1, 512, 1, 1])
    }

    func testStrictLoadingRejectsWrongShapesAndLeftovers() throws {
        let keys = ["conv1.weight": [64, 3, 7, 7]]
        let wrongShape = WeightStore(tensors: keys.mapValues { WeightTensor(shape: [$0[0], 1, 7, 7], values: [Float](repeating: 0, count: $0[0] * 49)) },
                                     source: "wrong.safetensors")
        XCTAssertThrowsError(try ResNet(depth: .resNet18, weights: wrongShape)) { error in
            XCTAssertEqual(error as? WeightsError, .unexpectedShape(key: "conv1.weight", expected: [64, 3, 7, 7], actual: [64, 1, 7, 7], file: "wrong.safetensors"))
        }
        // A full ResNet-18 state dict plus a stray tensor: the stray one is reported; fc is allowed.
        let names = resNet18StateDictShapes()
        var tensors = names.mapValues { WeightTensor(shape: $0, values: [Float](repeating: 0.5, count: $0.reduce(1, *))) }
        tensors["fc.weight"] = WeightTensor(shape: [2, 512], values: [Float](repeating: 0, count: 1024))
        XCTAssertNoThrow(try ResNet(depth: .resNet18, weights: WeightStore(tensors: tensors, source: "r18")))
        tensors["layer5.0.conv1.weight"] = WeightTensor(shape: [1], values: [0])
        XCTAssertThrowsError(try ResNet(depth: .resNet18, weights: WeightStore(tensors: tensors, source: "r18"))) { error in
            XCTAssertEqual(error as? WeightsError, .unusedTensors(keys: ["layer5.0.conv1.weight"], file: "r18"))
        }
    }
}

/// torchvision resnet18's state_dict names and shapes (without fc and num_batches_tracked).
func resNet18StateDictShapes() -> [String: [Int]] {
    var shapes: [String: [Int]] = ["conv1.weight": [64, 3, 7, 7]]
    func batchNorm(_ prefix: String, _ channels: Int) {
        for name in ["weight", "bias", "running_mean", "running_var"] { shapes["\(prefix).\(name)"] = [channels] }
    }
    batchNorm("bn1", 64)
    var inChannels = 64
    for stage in 0..<4 {
        let width = 64 << stage
        for block in 0..<2 {
            let prefix = "layer\(stage + 1).\(block)"
            shapes["\(prefix).conv1.weight"] = [width, inChannels, 3, 3]
            batchNorm("\(prefix).bn1", width)
            shapes["\(prefix).conv2.weight"] = [width, width, 3, 3]
            batchNorm("\(prefix).bn2", width)
            if block == 0 && stage > 0 {
                shapes["\(prefix).downsample.0.weight"] = [width, inChannels, 1, 1]
                batchNorm("\(prefix).downsample.1", width)
            }
            inChannels = width
        }
    }
    return shapes
}
