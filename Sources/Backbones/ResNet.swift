// ResNet: He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016
// (arXiv:1512.03385), as implemented by torchvision/models/resnet.py (torchvision 0.29):
// the "V1.5" bottleneck that strides in its 3x3 convolution, a 1x1 convolution + batch
// norm on the shortcut whenever the stride or width changes, BatchNorm eps 1e-5.
// One family: `Depth` picks the block type and the number of blocks per stage, as in
// tensorflow/swift-models Models/ImageClassification/ResNet.swift.
//
// Weights come by torchvision state_dict names ("layer1.0.conv1.weight", ...); every
// batch norm is folded into the convolution before it at load time. The classifier
// (`fc`) is not part of the backbone: `embed` returns the globally pooled features.

import NeuralKernels
import Weights

public struct ResNet: Backbone {
    public enum Depth: Int, CaseIterable, Sendable {
        case resNet18 = 18, resNet34 = 34, resNet50 = 50, resNet101 = 101, resNet152 = 152

        /// Blocks per stage (layer1 ... layer4), torchvision's `layers` argument.
        public var blockCounts: [Int] {
            switch self {
            case .resNet18: return [2, 2, 2, 2]
            case .resNet34, .resNet50: return [3, 4, 6, 3]
            case .resNet101: return [3, 4, 23, 3]
            case .resNet152: return [3, 8, 36, 3]
            }
        }

        public var usesBottleneck: Bool { rawValue >= 50 }
        /// Output channels of a block relative to its width (torchvision's `expansion`).
        public var expansion: Int { usesBottleneck ? 4 : 1 }
    }

    /// One residual block: BasicBlock (two 3x3) or Bottleneck (1x1, 3x3 strided, 1x1).
    struct Block: Sendable {
        var convolutions: [Conv2D]        // batch norms folded in
        var shortcut: Conv2D?             // downsample.0 + downsample.1 folded

        /// x: N x inChannels x H x W → N x outChannels x H/stride x W/stride.
        func callAsFunction(_ x: Tensor, context: KernelContext) -> Tensor {
            let identity = shortcut.map { conv2d(x, $0, context: context) } ?? x
            var y = x
            for convolution in convolutions.dropLast() { y = conv2d(y, convolution, activation: .relu, context: context) }
            // relu(bn(conv(y)) + identity), fused into one output pass.
            return conv2d(y, convolutions[convolutions.count - 1], activation: .relu, residual: identity, context: context)
        }
    }

    public static let batchNormEpsilon: Float = 1e-5

    public let depth: Depth
    public var context: KernelContext
    let stem: Conv2D                      // conv1 + bn1
    let stages: [[Block]]                 // layer1 ... layer4

    public var name: String { "resnet\(depth.rawValue)" }
    public var embeddingWidth: Int { 512 * depth.expansion }

    /// Builds the network from a torchvision-named store and checks that nothing but the
    /// classifier and `num_batches_tracked` is left unread.
    public init(depth: Depth, weights store: WeightStore, context: KernelContext = .allCores) throws {
        try self.init(depth: depth, weights: store.root, context: context)
        try store.checkAllConsumed(allowing: ["num_batches_tracked", "fc"])
    }

    /// Builds the network from a scope (no consumption check: the caller owns the store).
    public init(depth: Depth, weights: WeightScope, context: KernelContext = .allCores) throws {
        self.depth = depth
        self.context = context
        let epsilon = Self.batchNormEpsilon
        stem = try foldedConvolution(weights, convolution: "conv1", batchNorm: "bn1", inChannels: 3, outChannels: 64,
                                     geometry: ConvGeometry(kernel: 7, stride: 2, padding: 3), epsilon: epsilon)
        var inChannels = 64
        var stages: [[Block]] = []
        for (stageIndex, blockCount) in depth.blockCounts.enumerated() {
            let width = 64 << stageIndex
            let outChannels = width * depth.expansion
            let stage = weights.scoped("layer\(stageIndex + 1)")
            var blocks: [Block] = []
            for blockIndex in 0..<blockCount {
                let scope = stage.scoped(blockIndex)
                let stride = (stageIndex > 0 && blockIndex == 0) ? 2 : 1
                var convolutions: [Conv2D] = []
                if depth.usesBottleneck {
                    convolutions.append(try foldedConvolution(scope, convolution: "conv1", batchNorm: "bn1",
                        inChannels: inChannels, outChannels: width, geometry: ConvGeometry(kernel: 1), epsilon: epsilon))
                    convolutions.append(try foldedConvolution(scope, convolution: "conv2", batchNorm: "bn2",
                        inChannels: width, outChannels: width, geometry: ConvGeometry(kernel: 3, stride: stride, padding: 1), epsilon: epsilon))
                    convolutions.append(try foldedConvolution(scope, convolution: "conv3", batchNorm: "bn3",
                        inChannels: width, outChannels: outChannels, geometry: ConvGeometry(kernel: 1), epsilon: epsilon))
                } else {
                    convolutions.append(try foldedConvolution(scope, convolution: "conv1", batchNorm: "bn1",
                        inChannels: inChannels, outChannels: width, geometry: ConvGeometry(kernel: 3, stride: stride, padding: 1), epsilon: epsilon))
                    convolutions.append(try foldedConvolution(scope, convolution: "conv2", batchNorm: "bn2",
                        inChannels: width, outChannels: outChannels, geometry: ConvGeometry(kernel: 3, padding: 1), epsilon: epsilon))
                }
                var shortcut: Conv2D?
                if stride != 1 || inChannels != outChannels {
                    shortcut = try foldedConvolution(scope.scoped("downsample"), convolution: "0", batchNorm: "1",
                        inChannels: inChannels, outChannels: outChannels, geometry: ConvGeometry(kernel: 1, stride: stride), epsilon: epsilon)
                }
                blocks.append(Block(convolutions: convolutions, shortcut: shortcut))
                inChannels = outChannels
            }
            stages.append(blocks)
        }
        self.stages = stages
    }

    /// input: N x 3 x H x W (ImageNet-normalised) → N x embeddingWidth x 1 x 1.
    public func embed(_ input: Tensor) -> Tensor {
        embedAcrossCores(input, context: context, embedding)
    }

    /// layer1 … layer4, the last one the final feature map.
    public var stageBlocks: [StageBlock] {
        (0..<4).map { StageBlock("layer\($0 + 1)", (64 << $0) * depth.expansion) }
    }

    public func embedStages(_ input: Tensor) -> Tensor {
        embedAcrossCores(input, context: context) { pooledStages($0, context: $1, trunk) }
    }

    func embedding(_ input: Tensor, context: KernelContext) -> Tensor {
        globalAveragePool(trunk(input, context: context, tap: { _ in }), context: context)       // N x 2048 x 1 x 1
    }

    /// N x 3 x H x W → layer4's output, N x 2048 x H/32 x W/32; `tap` sees layer1 … layer3's outputs.
    func trunk(_ input: Tensor, context: KernelContext, tap: (Tensor) -> Void) -> Tensor {
        var x = conv2d(input, stem, activation: .relu, context: context)                     // N x 64 x H/2 x W/2
        x = maxPool2d(x, PoolGeometry(kernel: 3, stride: 2, padding: 1), context: context)     // N x 64 x H/4 x W/4
        for (index, stage) in stages.enumerated() {
            // layer1: N x 256 x H/4; layer2: N x 512 x H/8; layer3: N x 1024 x H/16; layer4: N x 2048 x H/32
            // (64, 128, 256, 512 channels for ResNet-18/34).
            for block in stage { x = block(x, context: context) }
            if index < stages.count - 1 { tap(x) }
        }
        return x
    }
}

/// Reads `<convolution>.weight` (no bias) and the batch norm `<batchNorm>.{weight,bias,running_mean,running_var}`
/// from `scope`, and folds the batch norm into the convolution.
func foldedConvolution(_ scope: WeightScope, convolution: String, batchNorm: String,
                       inChannels: Int, outChannels: Int, geometry: ConvGeometry, epsilon: Float) throws -> Conv2D {
    let convolutionScope = scope.scoped(convolution), normScope = scope.scoped(batchNorm)
    let weight = try convolutionScope.tensor("weight", shape: [outChannels, inChannels / geometry.groups,
                                                              geometry.kernelHeight, geometry.kernelWidth])
    let layer = Conv2D(inChannels: inChannels, outChannels: outChannels, geometry: geometry, weight: weight)
    return layer.foldingBatchNorm(gamma: try normScope.tensor("weight", shape: [outChannels]),
                                  beta: try normScope.tensor("bias", shape: [outChannels]),
                                  mean: try normScope.tensor("running_mean", shape: [outChannels]),
                                  variance: try normScope.tensor("running_var", shape: [outChannels]),
                                  epsilon: epsilon)
}
