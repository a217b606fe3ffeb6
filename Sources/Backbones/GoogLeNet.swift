// GoogLeNet (Inception v1): Szegedy et al., "Going Deeper with Convolutions", CVPR 2015
// (arXiv:1409.4842), as implemented by torchvision/models/googlenet.py (torchvision 0.29):
// every convolution is BasicConv2d (conv without bias, BatchNorm eps 1e-3, ReLU); max pools
// use ceil_mode; the "5x5" branch is a 3x3 convolution (a known torchvision quirk the
// pretrained weights depend on); transform_input=True as the pretrained model is used,
// i.e. ImageNet-normalised input is re-normalised to (x - 0.5) / 0.5 inside the network.
// The auxiliary heads (aux1, aux2), dropout and the classifier (fc) are not part of the
// backbone: `embed` returns the 1024 pooled features.

import NeuralKernels
import Weights

public struct GoogLeNet: Backbone {
    /// One inception block: four branches concatenated along channels
    /// (1x1 | 1x1 → 3x3 | 1x1 → 3x3 | 3x3 max pool → 1x1).
    struct Inception: Sendable {
        var branch1: Conv2D
        var branch2: (reduce: Conv2D, convolution: Conv2D)
        var branch3: (reduce: Conv2D, convolution: Conv2D)
        var branch4: Conv2D
        var outChannels: Int { branch1.outChannels + branch2.convolution.outChannels + branch3.convolution.outChannels + branch4.outChannels }

        init(_ scope: WeightScope, inChannels: Int, ch1x1: Int, ch3x3Reduce: Int, ch3x3: Int,
             ch5x5Reduce: Int, ch5x5: Int, poolProjection: Int) throws {
            func basic(_ scope: WeightScope, _ input: Int, _ output: Int, _ geometry: ConvGeometry) throws -> Conv2D {
                try foldedConvolution(scope, convolution: "conv", batchNorm: "bn", inChannels: input, outChannels: output,
                                      geometry: geometry, epsilon: GoogLeNet.batchNormEpsilon)
            }
            let pointwise = ConvGeometry(kernel: 1), threeByThree = ConvGeometry(kernel: 3, padding: 1)
            branch1 = try basic(scope.scoped("branch1"), inChannels, ch1x1, pointwise)
            branch2 = (try basic(scope.scoped("branch2").scoped(0), inChannels, ch3x3Reduce, pointwise),
                       try basic(scope.scoped("branch2").scoped(1), ch3x3Reduce, ch3x3, threeByThree))
            branch3 = (try basic(scope.scoped("branch3").scoped(0), inChannels, ch5x5Reduce, pointwise),
                       try basic(scope.scoped("branch3").scoped(1), ch5x5Reduce, ch5x5, threeByThree))
            branch4 = try basic(scope.scoped("branch4").scoped(1), inChannels, poolProjection, pointwise)
        }

        /// x: N x C x H x W → N x outChannels x H x W; each branch writes its own channel slice.
        func callAsFunction(_ x: Tensor, context: KernelContext) -> Tensor {
            var output = Tensor.uninitialised(shape: [x.batch, outChannels, x.height, x.width])
            var offset = 0
            conv2d(x, branch1, activation: .relu, into: &output, channelOffset: offset, context: context)
            offset += branch1.outChannels
            let reduced2 = conv2d(x, branch2.reduce, activation: .relu, context: context)
            conv2d(reduced2, branch2.convolution, activation: .relu, into: &output, channelOffset: offset, context: context)
            offset += branch2.convolution.outChannels
            let reduced3 = conv2d(x, branch3.reduce, activation: .relu, context: context)
            conv2d(reduced3, branch3.convolution, activation: .relu, into: &output, channelOffset: offset, context: context)
            offset += branch3.convolution.outChannels
            let pooled = maxPool2d(x, PoolGeometry(kernel: 3, stride: 1, padding: 1, ceilMode: true), context: context)
            conv2d(pooled, branch4, activation: .relu, into: &output, channelOffset: offset, context: context)
            return output
        }
    }

    public static let batchNormEpsilon: Float = 1e-3

    /// torchvision's transform_input: re-normalise ImageNet-normalised input to (x - 0.5) / 0.5 (stated by the weight set).
    public let transformInput: Bool
    public var context: KernelContext
    let stem: [Conv2D]                    // conv1 (7x7/2), conv2 (1x1), conv3 (3x3)
    let inception3: [Inception]           // 3a, 3b
    let inception4: [Inception]           // 4a ... 4e
    let inception5: [Inception]           // 5a, 5b

    public var name: String { "googlenet" }
    public var embeddingWidth: Int { 1024 }

    /// Builds the network from a torchvision-named store; aux heads and the classifier may be present and are ignored.
    public init(weights store: WeightStore, transformInput: Bool = true, context: KernelContext = .allCores) throws {
        try self.init(weights: store.root, transformInput: transformInput, context: context)
        try store.checkAllConsumed(allowing: ["num_batches_tracked", "fc", "aux1", "aux2"])
    }

    public init(weights: WeightScope, transformInput: Bool = true, context: KernelContext = .allCores) throws {
        self.transformInput = transformInput
        self.context = context
        func basic(_ name: String, _ input: Int, _ output: Int, _ geometry: ConvGeometry) throws -> Conv2D {
            try foldedConvolution(weights.scoped(name), convolution: "conv", batchNorm: "bn", inChannels: input,
                                  outChannels: output, geometry: geometry, epsilon: Self.batchNormEpsilon)
        }
        stem = [try basic("conv1", 3, 64, ConvGeometry(kernel: 7, stride: 2, padding: 3)),
                try basic("conv2", 64, 64, ConvGeometry(kernel: 1)),
                try basic("conv3", 64, 192, ConvGeometry(kernel: 3, padding: 1))]
        // (in, 1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5", pool projection), torchvision's table.
        func block(_ name: String, _ c: (Int, Int, Int, Int, Int, Int, Int)) throws -> Inception {
            try Inception(weights.scoped(name), inChannels: c.0, ch1x1: c.1, ch3x3Reduce: c.2, ch3x3: c.3,
                          ch5x5Reduce: c.4, ch5x5: c.5, poolProjection: c.6)
        }
        inception3 = [try block("inception3a", (192, 64, 96, 128, 16, 32, 32)),
                      try block("inception3b", (256, 128, 128, 192, 32, 96, 64))]
        inception4 = [try block("inception4a", (480, 192, 96, 208, 16, 48, 64)),
                      try block("inception4b", (512, 160, 112, 224, 24, 64, 64)),
                      try block("inception4c", (512, 128, 128, 256, 24, 64, 64)),
                      try block("inception4d", (512, 112, 144, 288, 32, 64, 64)),
                      try block("inception4e", (528, 256, 160, 320, 32, 128, 128))]
        inception5 = [try block("inception5a", (832, 256, 160, 320, 32, 128, 128)),
                      try block("inception5b", (832, 384, 192, 384, 48, 128, 128))]
    }

    /// torchvision's _transform_input: channel c becomes x * (std_c / 0.5) + (mean_c - 0.5) / 0.5.
    /// Kept as its own pass (not folded into conv1) because conv1 zero-pads the transformed input.
    func transformed(_ input: Tensor) -> Tensor {
        var output = input
        let mean = Preprocessing.imageNet.mean.map(Double.init), std = Preprocessing.imageNet.std.map(Double.init)
        let plane = input.height * input.width
        for image in 0..<input.batch {
            for channel in 0..<3 {
                let scale = Float(std[channel] / 0.5), shift = Float((mean[channel] - 0.5) / 0.5)
                let start = (image * input.channels + channel) * plane
                for i in start..<(start + plane) { output.storage[i] = output.storage[i] * scale + shift }
            }
        }
        return output
    }

    /// input: N x 3 x H x W (ImageNet-normalised) → N x 1024 x 1 x 1.
    public func embed(_ input: Tensor) -> Tensor {
        embedAcrossCores(input, context: context, embedding)
    }

    /// The ends of the three inception groups, inception5b the final feature map.
    public var stageBlocks: [StageBlock] {
        [StageBlock("inception3b", 480), StageBlock("inception4e", 832), StageBlock("inception5b", 1024)]
    }

    public func embedStages(_ input: Tensor) -> Tensor {
        embedAcrossCores(input, context: context) { pooledStages($0, context: $1, trunk) }
    }

    func embedding(_ input: Tensor, context: KernelContext) -> Tensor {
        globalAveragePool(trunk(input, context: context, tap: { _ in }), context: context)  // N x 1024 x 1 x 1
    }

    /// N x 3 x H x W → inception5b's output; `tap` sees inception3b's and inception4e's.
    func trunk(_ input: Tensor, context: KernelContext, tap: (Tensor) -> Void) -> Tensor {
        precondition(input.channels == 3, "GoogLeNet expects 3 input channels")
        let ceilPool = PoolGeometry(kernel: 3, stride: 2, ceilMode: true)
        var x = transformInput ? transformed(input) : input
        x = conv2d(x, stem[0], activation: .relu, context: context)                 // N x 64 x 112 x 112 (at 224)
        x = maxPool2d(x, ceilPool, context: context)                                 // N x 64 x 56 x 56
        x = conv2d(x, stem[1], activation: .relu, context: context)                 // N x 64 x 56 x 56
        x = conv2d(x, stem[2], activation: .relu, context: context)                 // N x 192 x 56 x 56
        x = maxPool2d(x, ceilPool, context: context)                                 // N x 192 x 28 x 28
        for block in inception3 { x = block(x, context: context) }                   // N x 256, then 480 x 28 x 28
        tap(x)
        x = maxPool2d(x, ceilPool, context: context)                                 // N x 480 x 14 x 14
        for block in inception4 { x = block(x, context: context) }                   // N x 512 ... 832 x 14 x 14
        tap(x)
        x = maxPool2d(x, PoolGeometry(kernel: 2, stride: 2, ceilMode: true), context: context)  // N x 832 x 7 x 7
        for block in inception5 { x = block(x, context: context) }                   // N x 832, then 1024 x 7 x 7
        return x
    }
}
