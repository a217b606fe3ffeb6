// EfficientNet-Lite0 … Lite4.
//
// Paper: Tan, Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural
// Networks", ICML 2019, arXiv:1905.11946; the Lite variants are from the TensorFlow
// TPU repository (models/official/efficientnet/lite, efficientnet_lite_builder.py):
// ReLU6 instead of swish, no squeeze-and-excitation, stem and head not scaled.
// Mirrors the PyPI package `efficientnet-lite-pytorch` 0.1.0 (model.py, utils.py:
// `EfficientNet.from_name("efficientnet-lite0")` … "efficientnet-lite4"), whose state_dict names are used
// verbatim (`_blocks.3._depthwise_conv.weight`, `_bn1.running_var`, `_fc.weight`):
// TensorFlow "SAME" padding (output ceil(in / stride), the odd extra pixel at the
// bottom/right) recomputed for every input size, BatchNorm eps 1e-3 folded at load,
// skip connections where stride is 1 and the width is unchanged, drop-connect
// inactive at inference. Normalisation is the TF Lite one, (255 x - 127) / 128.
//
// Any input size works; shape comments are for Lite0 at 224 x 224.

import NeuralKernels
import Weights

public struct EfficientNetLite: Backbone {
    /// One row of the package's `efficientnet_lite` block strings ('r1_k3_s11_e1_i32_o16', …).
    public struct StageConfiguration: Sendable, Equatable {
        public var repeats: Int
        public var kernel: Int
        public var stride: Int
        public var expandRatio: Int
        public var inChannels: Int
        public var outChannels: Int

        public init(repeats: Int, kernel: Int, stride: Int, expandRatio: Int, inChannels: Int, outChannels: Int) {
            self.repeats = repeats
            self.kernel = kernel
            self.stride = stride
            self.expandRatio = expandRatio
            self.inChannels = inChannels
            self.outChannels = outChannels
        }
    }

    /// Lite0 … Lite4. Each variant's stages are Lite0's block strings scaled by the package's rules (utils.py
    /// `efficientnet_params`, `round_filters`, `round_repeats`; model.py `EfficientNet.__init__`): every stage's
    /// widths are scaled by the width coefficient, the repeats of every stage but the first and the last by the
    /// depth coefficient, and — the Lite rule `fix_head_stem` — the stem (32), the first stage's input and repeats,
    /// the last stage's repeats and the head (1280) are not scaled.
    public enum Variant: String, CaseIterable, Sendable {
        case lite0 = "efficientnet_lite0"
        case lite1 = "efficientnet_lite1"
        case lite2 = "efficientnet_lite2"
        case lite3 = "efficientnet_lite3"
        case lite4 = "efficientnet_lite4"

        /// utils.py `efficientnet_params` (from efficientnet_lite_builder.py): width, depth, resolution.
        var coefficients: (width: Double, depth: Double, resolution: Int) {
            switch self {
            case .lite0: return (1.0, 1.0, 224)
            case .lite1: return (1.0, 1.1, 240)
            case .lite2: return (1.1, 1.2, 260)
            case .lite3: return (1.2, 1.4, 280)
            case .lite4: return (1.4, 1.8, 300)
            }
        }

        /// The package's `efficientnet_lite` block strings, i.e. Lite0 ('r1_k3_s11_e1_i32_o16', …).
        static let blockStrings: [StageConfiguration] = [
            StageConfiguration(repeats: 1, kernel: 3, stride: 1, expandRatio: 1, inChannels: 32, outChannels: 16),
            StageConfiguration(repeats: 2, kernel: 3, stride: 2, expandRatio: 6, inChannels: 16, outChannels: 24),
            StageConfiguration(repeats: 2, kernel: 5, stride: 2, expandRatio: 6, inChannels: 24, outChannels: 40),
            StageConfiguration(repeats: 3, kernel: 3, stride: 2, expandRatio: 6, inChannels: 40, outChannels: 80),
            StageConfiguration(repeats: 3, kernel: 5, stride: 1, expandRatio: 6, inChannels: 80, outChannels: 112),
            StageConfiguration(repeats: 4, kernel: 5, stride: 2, expandRatio: 6, inChannels: 112, outChannels: 192),
            StageConfiguration(repeats: 1, kernel: 3, stride: 1, expandRatio: 6, inChannels: 192, outChannels: 320),
        ]

        /// utils.py `round_filters` (depth_divisor 8, min_depth None → 8): the scaled width rounded to the
        /// nearest multiple of 8, plus 8 when that lost more than 10 %.
        static func roundFilters(_ filters: Int, width: Double) -> Int {
            let divisor = 8
            let scaled = Double(filters) * width
            var rounded = max(divisor, Int(scaled + Double(divisor) / 2) / divisor * divisor)
            if Double(rounded) < 0.9 * scaled { rounded += divisor }
            return rounded
        }

        /// utils.py `round_repeats`: ceil(depth x repeats), in Double as the package computes it in Python floats.
        static func roundRepeats(_ repeats: Int, depth: Double) -> Int { Int((depth * Double(repeats)).rounded(.up)) }

        public var stages: [StageConfiguration] {
            let (width, depth, _) = coefficients
            let last = Self.blockStrings.count - 1
            return Self.blockStrings.enumerated().map { index, stage in
                var scaled = stage
                scaled.inChannels = index == 0 ? stage.inChannels : Self.roundFilters(stage.inChannels, width: width)
                scaled.outChannels = Self.roundFilters(stage.outChannels, width: width)
                scaled.repeats = index == 0 || index == last ? stage.repeats : Self.roundRepeats(stage.repeats, depth: depth)
                return scaled
            }
        }

        /// The resolution the ImageNet weights were trained at (224, 240, 260, 280, 300).
        public var inputSize: Int { coefficients.resolution }
    }

    public let variant: Variant
    /// Threads for every kernel of a forward pass (results do not depend on it).
    public let context: KernelContext
    public var name: String { variant.rawValue }
    public let embeddingWidth = 1280
    static let batchNormEpsilon: Float = 1e-3
    public static let unusedTensorNames = ["num_batches_tracked", "_fc"]
    public static let classCount = 1000

    let stem: Conv2D                    // _conv_stem + _bn0, padding left to `samePadding`
    let blocks: [EfficientNetLiteBlock] // _blocks.0 … _blocks.15 (Lite0; 20, 20, 23, 29 for Lite1 … Lite4)
    let head: Conv2D                    // _conv_head + _bn1
    /// `_fc`, the ImageNet classifier, when the checkpoint has it.
    public let classifier: Linear?

    /// Builds the network from the package's state_dict names.
    public init(weights: WeightStore, variant: Variant = .lite0, context: KernelContext = .allCores) throws {
        self.variant = variant
        self.context = context
        let w = weights.root
        let stages = variant.stages
        stem = try sameConvolution(w.scoped("_conv_stem"), batchNorm: w.scoped("_bn0"), 3, stages[0].inChannels,
                                   kernel: 3, stride: 2)
        var blocks: [EfficientNetLiteBlock] = []
        for stage in stages {
            for repeat_ in 0..<stage.repeats {
                let inChannels = repeat_ == 0 ? stage.inChannels : stage.outChannels
                let stride = repeat_ == 0 ? stage.stride : 1
                blocks.append(try EfficientNetLiteBlock(w.scoped("_blocks").scoped(blocks.count), stage: stage,
                                                        inChannels: inChannels, stride: stride))
            }
        }
        self.blocks = blocks
        head = try sameConvolution(w.scoped("_conv_head"), batchNorm: w.scoped("_bn1"), stages[stages.count - 1].outChannels,
                                   embeddingWidth, kernel: 1, stride: 1)
        if w.contains("_fc.weight") {
            let fc = w.scoped("_fc")
            classifier = Linear(inFeatures: embeddingWidth, outFeatures: Self.classCount,
                                weight: try fc.tensor("weight", shape: [Self.classCount, embeddingWidth]),
                                bias: try fc.tensor("bias", shape: [Self.classCount]))
        } else {
            classifier = nil
        }
        try weights.checkAllConsumed(allowing: Self.unusedTensorNames)
    }

    /// The convolutional trunk: N x 3 x H x W → N x 1280 x ceil(H/32) x ceil(W/32).
    /// `tap` sees the output of every stage (the last block of each, `_blocks.0`, `_blocks.2`, …, `_blocks.15`).
    func features(_ input: Tensor, context: KernelContext, tap: (Tensor) -> Void = { _ in }) -> Tensor {
        precondition(input.channels == 3, "EfficientNet-Lite expects 3 input channels, got \(input.channels)")
        var x = conv2d(input, samePadding(stem, input), activation: .relu6, context: context)   // N x 32 x 112 x 112
        // N x 16 x 112 → 24 x 56 → 40 x 28 → 80 x 14 → 112 x 14 → 192 x 7 → 320 x 7
        for (index, block) in blocks.enumerated() {
            x = block.forward(x, context)
            if stageEnds.contains(index) { tap(x) }
        }
        return conv2d(x, head, activation: .relu6, context: context)                            // N x 1280 x 7 x 7
    }

    /// Indices in `blocks` of the last block of each stage.
    var stageEnds: Set<Int> {
        var ends = Set<Int>(), count = 0
        for stage in variant.stages { count += stage.repeats; ends.insert(count - 1) }
        return ends
    }

    public func embed(_ input: Tensor) -> Tensor {
        embedAcrossCores(input, context: context) { image, context in
            globalAveragePool(features(image, context: context), context: context)   // N x 1280 x 1 x 1
        }
    }

    /// The end of each stage by its block's state_dict name, then `_conv_head` (after `_bn1` and ReLU6).
    public var stageBlocks: [StageBlock] {
        var names: [StageBlock] = [], count = 0
        for stage in variant.stages { count += stage.repeats; names.append(StageBlock("_blocks.\(count - 1)", stage.outChannels)) }
        return names + [StageBlock("_conv_head", embeddingWidth)]
    }

    public func embedStages(_ input: Tensor) -> Tensor {
        embedAcrossCores(input, context: context) { image, context in
            pooledStages(image, context: context) { x, c, tap in features(x, context: c, tap: tap) }
        }
    }

    /// ImageNet logits (N x 1000 x 1 x 1), or nil when the checkpoint had no `_fc`.
    public func logits(_ input: Tensor) -> Tensor? {
        guard let classifier else { return nil }
        return linear(embed(input), classifier, context: context)
    }
}

/// One MBConv block without squeeze-and-excitation (`_blocks.i`).
struct EfficientNetLiteBlock: Sendable {
    let expand: Conv2D?        // _expand_conv + _bn0 (absent when expand ratio is 1)
    let depthwise: Conv2D      // _depthwise_conv + _bn1, SAME padding per input size
    let project: Conv2D        // _project_conv + _bn2
    let residual: Bool

    init(_ w: WeightScope, stage: EfficientNetLite.StageConfiguration, inChannels: Int, stride: Int) throws {
        let expanded = inChannels * stage.expandRatio
        expand = stage.expandRatio == 1 ? nil :
            try sameConvolution(w.scoped("_expand_conv"), batchNorm: w.scoped("_bn0"), inChannels, expanded, kernel: 1, stride: 1)
        depthwise = try sameConvolution(w.scoped("_depthwise_conv"), batchNorm: w.scoped("_bn1"), expanded, expanded,
                                        kernel: stage.kernel, stride: stride, groups: expanded)
        project = try sameConvolution(w.scoped("_project_conv"), batchNorm: w.scoped("_bn2"), expanded, stage.outChannels,
                                      kernel: 1, stride: 1)
        residual = stride == 1 && inChannels == stage.outChannels   // every Lite block has id_skip
    }

    // x: N x in x H x W → (N x E x H x W) → N x E x H/s x W/s → N x out x ceil(H / stride) x ceil(W / stride), in bands
    // of rows where that pays (InvertedBottleneck.swift). The skip connection is fused into the (activation-free)
    // projection's output pass.
    func forward(_ x: Tensor, _ c: KernelContext) -> Tensor {
        invertedBottleneck(x, expand: expand, expandActivation: .relu6, depthwise: samePadding(depthwise, x), activation: .relu6,
                           project: project, residual: residual, context: c)
    }
}

/// TF "SAME" padding for `layer` applied to `input` (utils.py Conv2dStaticSamePadding):
/// output = ceil(in / stride), total = max((out − 1) · stride + (k − 1) · dilation + 1 − in, 0),
/// top/left = total / 2, bottom/right = the rest.
func samePadding(_ layer: Conv2D, _ input: Tensor) -> Conv2D {
    func split(_ size: Int, _ kernel: Int, _ stride: Int, _ dilation: Int) -> (Int, Int) {
        let out = (size + stride - 1) / stride
        let total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
        return (total / 2, total - total / 2)
    }
    var padded = layer
    let g = layer.geometry
    let (top, bottom) = split(input.height, g.kernelHeight, g.strideY, g.dilationY)
    let (left, right) = split(input.width, g.kernelWidth, g.strideX, g.dilationX)
    padded.geometry.padTop = top; padded.geometry.padBottom = bottom
    padded.geometry.padLeft = left; padded.geometry.padRight = right
    return padded
}

/// A bias-free convolution `conv` followed by batch norm `batchNorm` (eps 1e-3), folded, with no
/// padding yet: `samePadding` fills it in per input (1x1 stride-1 convolutions never need any).
private func sameConvolution(_ conv: WeightScope, batchNorm: WeightScope, _ inChannels: Int, _ outChannels: Int,
                             kernel: Int, stride: Int, groups: Int = 1) throws -> Conv2D {
    try foldedConvolution(conv, batchNorm: batchNorm, inChannels: inChannels, outChannels: outChannels,
                          geometry: ConvGeometry(kernel: kernel, stride: stride, groups: groups),
                          epsilon: EfficientNetLite.batchNormEpsilon)
}
