// Inception-V3.
//
// Paper: Szegedy, Vanhoucke, Ioffe, Shlens, Wojna, "Rethinking the Inception
// Architecture for Computer Vision", CVPR 2016, arXiv:1512.00567.
// Mirrors torchvision/models/inception.py (torchvision 0.29, `Inception3`) as
// `inception_v3(weights=IMAGENET1K_V1)` builds it: transform_input=True,
// BasicConv2d = conv (no bias) + BatchNorm(eps 1e-3) + ReLU, the factorised
// 1x7 / 7x1 and 1x3 / 3x1 convolutions, 3x3 stride-1 average pools with padding 1
// and count_include_pad=True, branches concatenated along channels. AuxLogits
// (a training-only head) and the classifier `fc` are not built; their tensors
// are allowed to remain in a checkpoint.
//
// Any input of at least 75 x 75 works (torchvision's "min_size"); the shape
// comments below are for the native 299 x 299.

import NeuralKernels
import Weights

public struct InceptionV3: Backbone {
    public let name = "inception_v3"
    public let embeddingWidth = 2048
    /// torchvision IMAGENET1K_V1 is trained at 299 (resize 342, centre crop 299).
    public static let inputSize = 299
    public static let minimumInputSize = 75
    static let batchNormEpsilon: Float = 1e-3

    /// torchvision's transform_input: re-normalise ImageNet-normalised input to (x - 0.5) / 0.5 (stated by the weight set).
    public let transformInput: Bool
    /// Threads for every kernel of a forward pass (results do not depend on it).
    public let context: KernelContext
    let stem: [Conv2D]              // Conv2d_1a_3x3 … Conv2d_4a_3x3 (pools between, see embed)
    let mixed5: [InceptionA]        // Mixed_5b, 5c, 5d
    let mixed6a: InceptionB
    let mixed6: [InceptionC]        // Mixed_6b … 6e
    let mixed7a: InceptionD
    let mixed7: [InceptionE]        // Mixed_7b, 7c

    /// Tensors a torchvision checkpoint may hold that this embedding network never reads.
    public static let unusedTensorNames = ["num_batches_tracked", "AuxLogits", "fc"]

    /// Builds the network from torchvision state_dict names (`Conv2d_1a_3x3.conv.weight`, …).
    public init(weights: WeightStore, transformInput: Bool = true, context: KernelContext = .allCores) throws {
        let w = weights.root
        self.transformInput = transformInput
        self.context = context
        stem = [
            try basicConv(w.scoped("Conv2d_1a_3x3"), 3, 32, kernel: (3, 3), stride: 2),
            try basicConv(w.scoped("Conv2d_2a_3x3"), 32, 32, kernel: (3, 3)),
            try basicConv(w.scoped("Conv2d_2b_3x3"), 32, 64, kernel: (3, 3), padding: (1, 1)),
            try basicConv(w.scoped("Conv2d_3b_1x1"), 64, 80, kernel: (1, 1)),
            try basicConv(w.scoped("Conv2d_4a_3x3"), 80, 192, kernel: (3, 3)),
        ]
        mixed5 = [
            try InceptionA(w.scoped("Mixed_5b"), inChannels: 192, poolFeatures: 32),
            try InceptionA(w.scoped("Mixed_5c"), inChannels: 256, poolFeatures: 64),
            try InceptionA(w.scoped("Mixed_5d"), inChannels: 288, poolFeatures: 64),
        ]
        mixed6a = try InceptionB(w.scoped("Mixed_6a"), inChannels: 288)
        mixed6 = try [("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)].map {
            try InceptionC(w.scoped($0.0), inChannels: 768, channels7x7: $0.1)
        }
        mixed7a = try InceptionD(w.scoped("Mixed_7a"), inChannels: 768)
        mixed7 = [
            try InceptionE(w.scoped("Mixed_7b"), inChannels: 1280),
            try InceptionE(w.scoped("Mixed_7c"), inChannels: 2048),
        ]
        try weights.checkAllConsumed(allowing: Self.unusedTensorNames)
    }

    public func embed(_ input: Tensor) -> Tensor {
        embedAcrossCores(input, context: context, embedding)
    }

    /// The ends of the Mixed_5, Mixed_6 and Mixed_7 groups, Mixed_7c the final feature map.
    public var stageBlocks: [StageBlock] {
        [StageBlock("Mixed_5d", 288), StageBlock("Mixed_6e", 768), StageBlock("Mixed_7c", 2048)]
    }

    public func embedStages(_ input: Tensor) -> Tensor {
        embedAcrossCores(input, context: context) { pooledStages($0, context: $1, trunk) }
    }

    func embedding(_ input: Tensor, context: KernelContext) -> Tensor {
        globalAveragePool(trunk(input, context: context, tap: { _ in }), context: context)   // N x 2048 x 1 x 1
    }

    /// N x 3 x H x W → Mixed_7c's output; `tap` sees Mixed_5d's and Mixed_6e's.
    func trunk(_ input: Tensor, context: KernelContext, tap: (Tensor) -> Void) -> Tensor {
        precondition(input.channels == 3, "Inception-V3 expects 3 input channels, got \(input.channels)")
        precondition(input.height >= Self.minimumInputSize && input.width >= Self.minimumInputSize,
                     "Inception-V3 needs at least \(Self.minimumInputSize) x \(Self.minimumInputSize) input, got \(input.height) x \(input.width)")
        let maxPool = PoolGeometry(kernel: 3, stride: 2)
        let c = context
        var x = transformInput ? Self.transformingInput(input) : input   // N x 3 x 299 x 299
        x = conv2d(x, stem[0], activation: .relu, context: c)             // N x 32 x 149 x 149
        x = conv2d(x, stem[1], activation: .relu, context: c)             // N x 32 x 147 x 147
        x = conv2d(x, stem[2], activation: .relu, context: c)             // N x 64 x 147 x 147
        x = maxPool2d(x, maxPool, context: c)                             // N x 64 x 73 x 73
        x = conv2d(x, stem[3], activation: .relu, context: c)             // N x 80 x 73 x 73
        x = conv2d(x, stem[4], activation: .relu, context: c)             // N x 192 x 71 x 71
        x = maxPool2d(x, maxPool, context: c)                             // N x 192 x 35 x 35
        for block in mixed5 { x = block.forward(x, c) }                   // N x 256, 288, 288 x 35 x 35
        tap(x)
        x = mixed6a.forward(x, c)                                         // N x 768 x 17 x 17
        for block in mixed6 { x = block.forward(x, c) }                   // N x 768 x 17 x 17
        tap(x)
        x = mixed7a.forward(x, c)                                         // N x 1280 x 8 x 8
        for block in mixed7 { x = block.forward(x, c) }                   // N x 2048 x 8 x 8
        return x
    }

    /// torchvision `_transform_input`: ImageNet-normalised input → (x - 0.5) / 0.5 per channel,
    /// x_c * (std_c / 0.5) + (mean_c - 0.5) / 0.5 with the pretrained weights' constants.
    static func transformingInput(_ input: Tensor) -> Tensor {
        let mean = Preprocessing.imageNet.mean, std = Preprocessing.imageNet.std
        var out = input
        let plane = input.height * input.width
        for n in 0..<input.batch {
            for c in 0..<3 {
                let scale = std[c] / 0.5, shift = (mean[c] - 0.5) / 0.5
                let base = (n * 3 + c) * plane
                for i in base..<(base + plane) { out.storage[i] = input.storage[i] * scale + shift }
            }
        }
        return out
    }
}

/// Mixed_5b/5c/5d: 1x1 | 1x1 → 5x5 | 1x1 → 3x3 → 3x3 | avg-pool 3x3 → 1x1.
struct InceptionA: Sendable {
    let branch1x1, branch5x5_1, branch5x5_2, branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3, branchPool: Conv2D

    init(_ w: WeightScope, inChannels: Int, poolFeatures: Int) throws {
        branch1x1 = try basicConv(w.scoped("branch1x1"), inChannels, 64, kernel: (1, 1))
        branch5x5_1 = try basicConv(w.scoped("branch5x5_1"), inChannels, 48, kernel: (1, 1))
        branch5x5_2 = try basicConv(w.scoped("branch5x5_2"), 48, 64, kernel: (5, 5), padding: (2, 2))
        branch3x3dbl_1 = try basicConv(w.scoped("branch3x3dbl_1"), inChannels, 64, kernel: (1, 1))
        branch3x3dbl_2 = try basicConv(w.scoped("branch3x3dbl_2"), 64, 96, kernel: (3, 3), padding: (1, 1))
        branch3x3dbl_3 = try basicConv(w.scoped("branch3x3dbl_3"), 96, 96, kernel: (3, 3), padding: (1, 1))
        branchPool = try basicConv(w.scoped("branch_pool"), inChannels, poolFeatures, kernel: (1, 1))
    }

    // x: N x C x H x W → N x (64 + 64 + 96 + poolFeatures) x H x W, branches written in place
    func forward(_ x: Tensor, _ c: KernelContext) -> Tensor {
        var out = Tensor.uninitialised(shape: [x.batch, 224 + branchPool.outChannels, x.height, x.width])
        conv2d(x, branch1x1, activation: .relu, into: &out, channelOffset: 0, context: c)
        conv2d(conv2d(x, branch5x5_1, activation: .relu, context: c), branch5x5_2, activation: .relu,
               into: &out, channelOffset: 64, context: c)
        let double = conv2d(conv2d(x, branch3x3dbl_1, activation: .relu, context: c), branch3x3dbl_2, activation: .relu, context: c)
        conv2d(double, branch3x3dbl_3, activation: .relu, into: &out, channelOffset: 128, context: c)
        conv2d(avgPool2d(x, inceptionAveragePool, context: c), branchPool, activation: .relu,
               into: &out, channelOffset: 224, context: c)
        return out
    }
}

/// Mixed_6a (grid reduction 35 → 17): 3x3/2 | 1x1 → 3x3 → 3x3/2 | max-pool 3x3/2.
struct InceptionB: Sendable {
    let branch3x3, branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3: Conv2D

    init(_ w: WeightScope, inChannels: Int) throws {
        branch3x3 = try basicConv(w.scoped("branch3x3"), inChannels, 384, kernel: (3, 3), stride: 2)
        branch3x3dbl_1 = try basicConv(w.scoped("branch3x3dbl_1"), inChannels, 64, kernel: (1, 1))
        branch3x3dbl_2 = try basicConv(w.scoped("branch3x3dbl_2"), 64, 96, kernel: (3, 3), padding: (1, 1))
        branch3x3dbl_3 = try basicConv(w.scoped("branch3x3dbl_3"), 96, 96, kernel: (3, 3), stride: 2)
    }

    // x: N x 288 x 35 x 35 → N x (384 + 96 + 288) x 17 x 17
    func forward(_ x: Tensor, _ c: KernelContext) -> Tensor {
        let pooled = maxPool2d(x, PoolGeometry(kernel: 3, stride: 2), context: c)
        var out = Tensor.uninitialised(shape: [x.batch, 480 + x.channels, pooled.height, pooled.width])
        conv2d(x, branch3x3, activation: .relu, into: &out, channelOffset: 0, context: c)
        let double = conv2d(conv2d(x, branch3x3dbl_1, activation: .relu, context: c), branch3x3dbl_2, activation: .relu, context: c)
        conv2d(double, branch3x3dbl_3, activation: .relu, into: &out, channelOffset: 384, context: c)
        copyChannels(pooled, into: &out, channelOffset: 480, context: c)
        return out
    }
}

/// Mixed_6b…6e: 1x1 | 1x1 → 1x7 → 7x1 | 1x1 → 7x1 → 1x7 → 7x1 → 1x7 | avg-pool → 1x1.
struct InceptionC: Sendable {
    let branch1x1: Conv2D
    let branch7x7: [Conv2D]       // branch7x7_1 … _3
    let branch7x7dbl: [Conv2D]    // branch7x7dbl_1 … _5
    let branchPool: Conv2D

    init(_ w: WeightScope, inChannels: Int, channels7x7 c7: Int) throws {
        branch1x1 = try basicConv(w.scoped("branch1x1"), inChannels, 192, kernel: (1, 1))
        branch7x7 = [
            try basicConv(w.scoped("branch7x7_1"), inChannels, c7, kernel: (1, 1)),
            try basicConv(w.scoped("branch7x7_2"), c7, c7, kernel: (1, 7), padding: (0, 3)),
            try basicConv(w.scoped("branch7x7_3"), c7, 192, kernel: (7, 1), padding: (3, 0)),
        ]
        branch7x7dbl = [
            try basicConv(w.scoped("branch7x7dbl_1"), inChannels, c7, kernel: (1, 1)),
            try basicConv(w.scoped("branch7x7dbl_2"), c7, c7, kernel: (7, 1), padding: (3, 0)),
            try basicConv(w.scoped("branch7x7dbl_3"), c7, c7, kernel: (1, 7), padding: (0, 3)),
            try basicConv(w.scoped("branch7x7dbl_4"), c7, c7, kernel: (7, 1), padding: (3, 0)),
            try basicConv(w.scoped("branch7x7dbl_5"), c7, 192, kernel: (1, 7), padding: (0, 3)),
        ]
        branchPool = try basicConv(w.scoped("branch_pool"), inChannels, 192, kernel: (1, 1))
    }

    // x: N x 768 x 17 x 17 → N x (4 · 192) x 17 x 17
    func forward(_ x: Tensor, _ c: KernelContext) -> Tensor {
        var out = Tensor.uninitialised(shape: [x.batch, 768, x.height, x.width])
        conv2d(x, branch1x1, activation: .relu, into: &out, channelOffset: 0, context: c)
        let b = branch7x7.dropLast().reduce(x) { conv2d($0, $1, activation: .relu, context: c) }
        conv2d(b, branch7x7[branch7x7.count - 1], activation: .relu, into: &out, channelOffset: 192, context: c)
        let d = branch7x7dbl.dropLast().reduce(x) { conv2d($0, $1, activation: .relu, context: c) }
        conv2d(d, branch7x7dbl[branch7x7dbl.count - 1], activation: .relu, into: &out, channelOffset: 384, context: c)
        conv2d(avgPool2d(x, inceptionAveragePool, context: c), branchPool, activation: .relu,
               into: &out, channelOffset: 576, context: c)
        return out
    }
}

/// Mixed_7a (grid reduction 17 → 8): 1x1 → 3x3/2 | 1x1 → 1x7 → 7x1 → 3x3/2 | max-pool 3x3/2.
struct InceptionD: Sendable {
    let branch3x3: [Conv2D]       // branch3x3_1, _2
    let branch7x7x3: [Conv2D]     // branch7x7x3_1 … _4

    init(_ w: WeightScope, inChannels: Int) throws {
        branch3x3 = [
            try basicConv(w.scoped("branch3x3_1"), inChannels, 192, kernel: (1, 1)),
            try basicConv(w.scoped("branch3x3_2"), 192, 320, kernel: (3, 3), stride: 2),
        ]
        branch7x7x3 = [
            try basicConv(w.scoped("branch7x7x3_1"), inChannels, 192, kernel: (1, 1)),
            try basicConv(w.scoped("branch7x7x3_2"), 192, 192, kernel: (1, 7), padding: (0, 3)),
            try basicConv(w.scoped("branch7x7x3_3"), 192, 192, kernel: (7, 1), padding: (3, 0)),
            try basicConv(w.scoped("branch7x7x3_4"), 192, 192, kernel: (3, 3), stride: 2),
        ]
    }

    // x: N x 768 x 17 x 17 → N x (320 + 192 + 768) x 8 x 8
    func forward(_ x: Tensor, _ c: KernelContext) -> Tensor {
        let pooled = maxPool2d(x, PoolGeometry(kernel: 3, stride: 2), context: c)
        var out = Tensor.uninitialised(shape: [x.batch, 512 + x.channels, pooled.height, pooled.width])
        let a = conv2d(x, branch3x3[0], activation: .relu, context: c)
        conv2d(a, branch3x3[1], activation: .relu, into: &out, channelOffset: 0, context: c)
        let b = branch7x7x3.dropLast().reduce(x) { conv2d($0, $1, activation: .relu, context: c) }
        conv2d(b, branch7x7x3[branch7x7x3.count - 1], activation: .relu, into: &out, channelOffset: 320, context: c)
        copyChannels(pooled, into: &out, channelOffset: 512, context: c)
        return out
    }
}

/// Mixed_7b/7c: 1x1 | 1x1 → (1x3 ‖ 3x1) | 1x1 → 3x3 → (1x3 ‖ 3x1) | avg-pool → 1x1.
struct InceptionE: Sendable {
    let branch1x1, branch3x3_1, branch3x3_2a, branch3x3_2b: Conv2D
    let branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3a, branch3x3dbl_3b, branchPool: Conv2D

    init(_ w: WeightScope, inChannels: Int) throws {
        branch1x1 = try basicConv(w.scoped("branch1x1"), inChannels, 320, kernel: (1, 1))
        branch3x3_1 = try basicConv(w.scoped("branch3x3_1"), inChannels, 384, kernel: (1, 1))
        branch3x3_2a = try basicConv(w.scoped("branch3x3_2a"), 384, 384, kernel: (1, 3), padding: (0, 1))
        branch3x3_2b = try basicConv(w.scoped("branch3x3_2b"), 384, 384, kernel: (3, 1), padding: (1, 0))
        branch3x3dbl_1 = try basicConv(w.scoped("branch3x3dbl_1"), inChannels, 448, kernel: (1, 1))
        branch3x3dbl_2 = try basicConv(w.scoped("branch3x3dbl_2"), 448, 384, kernel: (3, 3), padding: (1, 1))
        branch3x3dbl_3a = try basicConv(w.scoped("branch3x3dbl_3a"), 384, 384, kernel: (1, 3), padding: (0, 1))
        branch3x3dbl_3b = try basicConv(w.scoped("branch3x3dbl_3b"), 384, 384, kernel: (3, 1), padding: (1, 0))
        branchPool = try basicConv(w.scoped("branch_pool"), inChannels, 192, kernel: (1, 1))
    }

    // x: N x C x 8 x 8 → N x (320 + 768 + 768 + 192) x 8 x 8, in torchvision's order
    // [1x1, 3x3 (1x3 ‖ 3x1), 3x3dbl (1x3 ‖ 3x1), pool]
    func forward(_ x: Tensor, _ c: KernelContext) -> Tensor {
        var out = Tensor.uninitialised(shape: [x.batch, 2048, x.height, x.width])
        conv2d(x, branch1x1, activation: .relu, into: &out, channelOffset: 0, context: c)
        let single = conv2d(x, branch3x3_1, activation: .relu, context: c)
        conv2d(single, branch3x3_2a, activation: .relu, into: &out, channelOffset: 320, context: c)
        conv2d(single, branch3x3_2b, activation: .relu, into: &out, channelOffset: 704, context: c)
        let double = conv2d(conv2d(x, branch3x3dbl_1, activation: .relu, context: c), branch3x3dbl_2, activation: .relu, context: c)
        conv2d(double, branch3x3dbl_3a, activation: .relu, into: &out, channelOffset: 1088, context: c)
        conv2d(double, branch3x3dbl_3b, activation: .relu, into: &out, channelOffset: 1472, context: c)
        conv2d(avgPool2d(x, inceptionAveragePool, context: c), branchPool, activation: .relu,
               into: &out, channelOffset: 1856, context: c)
        return out
    }
}

/// F.avg_pool2d(x, kernel_size=3, stride=1, padding=1): count_include_pad defaults to True.
private let inceptionAveragePool = PoolGeometry(kernel: 3, stride: 1, padding: 1, countIncludePad: true)

/// torchvision BasicConv2d: `scope.conv` (no bias) then `scope.bn` (eps 1e-3), folded; ReLU is
/// applied by the caller's kernel.
private func basicConv(_ scope: WeightScope, _ inChannels: Int, _ outChannels: Int, kernel: (Int, Int),
                       stride: Int = 1, padding: (Int, Int) = (0, 0)) throws -> Conv2D {
    let geometry = ConvGeometry(kernel: kernel, stride: (stride, stride),
                                padding: (padding.0, padding.1, padding.0, padding.1))
    return try foldedConvolution(scope.scoped("conv"), batchNorm: scope.scoped("bn"), inChannels: inChannels,
                                 outChannels: outChannels, geometry: geometry, epsilon: InceptionV3.batchNormEpsilon)
}

// MARK: - Loading shared by InceptionV3, EfficientNetV2 and EfficientNetLite

/// Reads `convolution.weight` (OC x IC/groups x KH x KW, and `convolution.bias` when `hasBias`)
/// and the inference batch norm `batchNorm.{weight, bias, running_mean, running_var}`, and folds
/// the batch norm into the convolution.
func foldedConvolution(_ convolution: WeightScope, batchNorm: WeightScope, inChannels: Int, outChannels: Int,
                       geometry: ConvGeometry, epsilon: Float, hasBias: Bool = false) throws -> Conv2D {
    let layer = try plainConvolution(convolution, inChannels: inChannels, outChannels: outChannels,
                                     geometry: geometry, hasBias: hasBias)
    return layer.foldingBatchNorm(gamma: try batchNorm.tensor("weight", shape: [outChannels]),
                                  beta: try batchNorm.tensor("bias", shape: [outChannels]),
                                  mean: try batchNorm.tensor("running_mean", shape: [outChannels]),
                                  variance: try batchNorm.tensor("running_var", shape: [outChannels]),
                                  epsilon: epsilon)
}

/// A convolution without batch norm (squeeze-and-excitation's 1x1 convolutions).
func plainConvolution(_ convolution: WeightScope, inChannels: Int, outChannels: Int,
                      geometry: ConvGeometry, hasBias: Bool) throws -> Conv2D {
    let shape = [outChannels, inChannels / geometry.groups, geometry.kernelHeight, geometry.kernelWidth]
    return Conv2D(inChannels: inChannels, outChannels: outChannels, geometry: geometry,
                  weight: try convolution.tensor("weight", shape: shape),
                  bias: hasBias ? try convolution.tensor("bias", shape: [outChannels]) : nil)
}
