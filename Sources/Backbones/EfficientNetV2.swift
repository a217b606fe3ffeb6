// EfficientNet-V2 (the S variant).
//
// Paper: Tan, Le, "EfficientNetV2: Smaller Models and Faster Training", ICML 2021,
// arXiv:2104.00298.
// Mirrors torchvision/models/efficientnet.py (torchvision 0.29) as `efficientnet_v2_s`
// builds it: a 3x3/2 stem, three Fused-MBConv stages (a full kxk convolution
// instead of expand + depthwise), three MBConv stages (1x1 expand, depthwise kxk,
// squeeze-and-excitation with SiLU and a sigmoid gate, 1x1 project), a 1x1 head
// to 1280 channels, SiLU everywhere, BatchNorm eps 1e-3 folded at load. Residuals
// join where stride is 1 and the width is unchanged; stochastic depth is the
// identity at inference. The classifier (`classifier.1`) is not built.
//
// Any input size works (symmetric padding (k - 1) / 2); shape comments are for 384 x 384.

import NeuralKernels
import Weights

public struct EfficientNetV2: Backbone {
    /// One stage of torchvision's `_efficientnet_conf` (input/output channels before repetition).
    public struct StageConfiguration: Sendable {
        public enum Kind: Sendable { case fusedMBConv, mbConv }
        public var kind: Kind
        public var expandRatio: Int
        public var kernel: Int
        public var stride: Int
        public var inChannels: Int
        public var outChannels: Int
        public var layerCount: Int
    }

    public enum Variant: String, Sendable {
        case small = "efficientnet_v2_s"

        /// torchvision `_efficientnet_conf("efficientnet_v2_s")`.
        public var stages: [StageConfiguration] {
            switch self {
            case .small: return [
                StageConfiguration(kind: .fusedMBConv, expandRatio: 1, kernel: 3, stride: 1, inChannels: 24, outChannels: 24, layerCount: 2),
                StageConfiguration(kind: .fusedMBConv, expandRatio: 4, kernel: 3, stride: 2, inChannels: 24, outChannels: 48, layerCount: 4),
                StageConfiguration(kind: .fusedMBConv, expandRatio: 4, kernel: 3, stride: 2, inChannels: 48, outChannels: 64, layerCount: 4),
                StageConfiguration(kind: .mbConv, expandRatio: 4, kernel: 3, stride: 2, inChannels: 64, outChannels: 128, layerCount: 6),
                StageConfiguration(kind: .mbConv, expandRatio: 6, kernel: 3, stride: 1, inChannels: 128, outChannels: 160, layerCount: 9),
                StageConfiguration(kind: .mbConv, expandRatio: 6, kernel: 3, stride: 2, inChannels: 160, outChannels: 256, layerCount: 15),
            ]
            }
        }

        /// torchvision IMAGENET1K_V1 eval transform: resize 384, centre crop 384, ImageNet mean/std.
        public var inputSize: Int { 384 }
    }

    public let variant: Variant
    /// Threads for every kernel of a forward pass (results do not depend on it).
    public let context: KernelContext
    public var name: String { variant.rawValue }
    public let embeddingWidth = 1280
    static let batchNormEpsilon: Float = 1e-3
    public static let unusedTensorNames = ["num_batches_tracked", "classifier"]

    let stem: Conv2D                      // features.0
    let blocks: [EfficientNetV2Block]     // features.1 … features.6, flattened
    let head: Conv2D                      // features.7

    /// Builds the network from torchvision state_dict names (`features.4.0.block.2.fc1.weight`, …).
    public init(weights: WeightStore, variant: Variant = .small, context: KernelContext = .allCores) throws {
        self.variant = variant
        self.context = context
        let features = weights.root.scoped("features")
        let stages = variant.stages
        stem = try convNormActivation(features.scoped(0), 3, stages[0].inChannels, kernel: 3, stride: 2)
        var blocks: [EfficientNetV2Block] = []
        for (stageIndex, stage) in stages.enumerated() {
            for layer in 0..<stage.layerCount {
                let inChannels = layer == 0 ? stage.inChannels : stage.outChannels
                let stride = layer == 0 ? stage.stride : 1
                let scope = features.scoped(stageIndex + 1).scoped(layer).scoped("block")
                blocks.append(try EfficientNetV2Block(scope, stage: stage, inChannels: inChannels, stride: stride))
            }
        }
        self.blocks = blocks
        let lastChannels = stages[stages.count - 1].outChannels
        head = try convNormActivation(features.scoped(stages.count + 1), lastChannels, embeddingWidth, kernel: 1, stride: 1)
        try weights.checkAllConsumed(allowing: Self.unusedTensorNames)
    }

    public func embed(_ input: Tensor) -> Tensor {
        embedAcrossCores(input, context: context, embedding)
    }

    /// features.1 … features.6 (the end of each stage), then features.7 (the head, the final feature map).
    public var stageBlocks: [StageBlock] {
        let stages = variant.stages
        return stages.indices.map { StageBlock("features.\($0 + 1)", stages[$0].outChannels) }
            + [StageBlock("features.\(stages.count + 1)", embeddingWidth)]
    }

    public func embedStages(_ input: Tensor) -> Tensor {
        embedAcrossCores(input, context: context) { pooledStages($0, context: $1, trunk) }
    }

    func embedding(_ input: Tensor, context: KernelContext) -> Tensor {
        globalAveragePool(trunk(input, context: context, tap: { _ in }), context: context)   // N x 1280 x 1 x 1
    }

    /// N x 3 x H x W → the head's output; `tap` sees the output of every stage.
    func trunk(_ input: Tensor, context: KernelContext, tap: (Tensor) -> Void) -> Tensor {
        precondition(input.channels == 3, "EfficientNet-V2 expects 3 input channels, got \(input.channels)")
        var x = conv2d(input, stem, activation: .silu, context: context)   // N x 24 x 192 x 192
        // N x 24 x 192 → 48 x 96 → 64 x 48 → 128 x 24 → 160 x 24 → 256 x 12
        for (index, block) in blocks.enumerated() {
            x = block.forward(x, context)
            if stageEnds.contains(index) { tap(x) }
        }
        return conv2d(x, head, activation: .silu, context: context)         // N x 1280 x 12 x 12
    }

    /// Indices in `blocks` of the last block of each stage.
    var stageEnds: Set<Int> {
        var ends = Set<Int>(), count = 0
        for stage in variant.stages { count += stage.layerCount; ends.insert(count - 1) }
        return ends
    }
}

/// One FusedMBConv or MBConv block (`features.s.i.block`).
struct EfficientNetV2Block: Sendable {
    enum Body: Sendable {
        /// kxk conv + SiLU (expand ratio 1: straight to the output width).
        case fusedSingle(Conv2D)
        /// kxk conv to the expanded width + SiLU, then 1x1 project.
        case fused(expand: Conv2D, project: Conv2D)
        /// 1x1 expand + SiLU, depthwise kxk + SiLU, squeeze-and-excitation, 1x1 project.
        case mbConv(expand: Conv2D, depthwise: Conv2D, reduce: Conv2D, excite: Conv2D, project: Conv2D)
    }
    let body: Body
    let residual: Bool

    init(_ w: WeightScope, stage: EfficientNetV2.StageConfiguration, inChannels: Int, stride: Int) throws {
        let out = stage.outChannels, k = stage.kernel
        let expanded = makeDivisible(Double(inChannels * stage.expandRatio), by: 8)
        residual = stride == 1 && inChannels == out
        switch stage.kind {
        case .fusedMBConv where expanded == inChannels:
            body = .fusedSingle(try convNormActivation(w.scoped(0), inChannels, out, kernel: k, stride: stride))
        case .fusedMBConv:
            body = .fused(expand: try convNormActivation(w.scoped(0), inChannels, expanded, kernel: k, stride: stride),
                          project: try convNormActivation(w.scoped(1), expanded, out, kernel: 1, stride: 1))
        case .mbConv:
            precondition(expanded != inChannels, "EfficientNet-V2 MBConv stages always expand")
            let squeeze = max(1, inChannels / 4)
            let se = w.scoped(2)
            body = .mbConv(
                expand: try convNormActivation(w.scoped(0), inChannels, expanded, kernel: 1, stride: 1),
                depthwise: try convNormActivation(w.scoped(1), expanded, expanded, kernel: k, stride: stride, groups: expanded),
                reduce: try plainConvolution(se.scoped("fc1"), inChannels: expanded, outChannels: squeeze,
                                             geometry: ConvGeometry(kernel: 1), hasBias: true),
                excite: try plainConvolution(se.scoped("fc2"), inChannels: squeeze, outChannels: expanded,
                                             geometry: ConvGeometry(kernel: 1), hasBias: true),
                project: try convNormActivation(w.scoped(3), expanded, out, kernel: 1, stride: 1))
        }
    }

    // x: N x in x H x W → N x out x ceil(H / stride) x ceil(W / stride)
    // torchvision adds the residual after the block's last Conv2dNormActivation, activation
    // included. The fused kernel computes activation(conv + residual), so the residual is fused
    // only into the activation-free projections.
    func forward(_ x: Tensor, _ c: KernelContext) -> Tensor {
        let skip = residual ? x : nil
        switch body {
        case let .fusedSingle(conv):
            let y = conv2d(x, conv, activation: .silu, context: c)
            return residual ? add(y, x, context: c) : y
        case let .fused(expand, project):
            return conv2d(conv2d(x, expand, activation: .silu, context: c), project, residual: skip, context: c)
        case let .mbConv(expand, depthwise, reduce, excite, project):
            var y = conv2d(x, expand, activation: .silu, context: c)                     // N x E x H x W
            y = conv2d(y, depthwise, activation: .silu, context: c)                      // N x E x H/s x W/s
            y = squeezeExcitation(y, reduce: reduce, expand: excite, activation: .silu, context: c)
            return conv2d(y, project, residual: skip, context: c)                        // N x out x H/s x W/s
        }
    }
}

/// torchvision `_make_divisible(v, divisor)`: nearest multiple of `divisor`, never below
/// `divisor` nor more than 10 % under `v`.
func makeDivisible(_ value: Double, by divisor: Int) -> Int {
    var rounded = max(divisor, Int(value + Double(divisor) / 2) / divisor * divisor)
    if Double(rounded) < 0.9 * value { rounded += divisor }
    return rounded
}

/// torchvision Conv2dNormActivation: `scope.0` conv (no bias, padding (k - 1) / 2), `scope.1`
/// BatchNorm eps 1e-3, folded. The activation is applied by the caller's kernel.
private func convNormActivation(_ scope: WeightScope, _ inChannels: Int, _ outChannels: Int, kernel: Int,
                                stride: Int, groups: Int = 1) throws -> Conv2D {
    try foldedConvolution(scope.scoped(0), batchNorm: scope.scoped(1), inChannels: inChannels, outChannels: outChannels,
                          geometry: ConvGeometry(kernel: kernel, stride: stride, padding: (kernel - 1) / 2, groups: groups),
                          epsilon: EfficientNetV2.batchNormEpsilon)
}
