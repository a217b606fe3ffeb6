// Fast kernels: the same names and signatures as the naive twins in NaiveKernels.swift
// (switching a network is deleting `Naive.`), plus trailing defaulted parameters:
// `context` (thread count), and for convolution a fused `residual` and an `into:`
// form that writes straight into a channel slice of a larger tensor (in-place concat).
//
// All tensors are NCHW Float32 (Tensor.swift). Shapes:
//   conv2d        input N x IC x H x W, weight OC x IC/groups x KH x KW → N x OC x OH x OW
//   pools         N x C x H x W → N x C x OH x OW (PoolGeometry, PyTorch semantics)
//   linear        N x in (flattened per sample) → N x out x 1 x 1
//
// Convolution (conv2d) and its strategy and threading are in Convolution.swift.

import COpenBLAS
import Foundation

// MARK: - Dense, concatenation
// (Depthwise convolution: Depthwise.swift; pooling: Pooling.swift; the output pass, activations,
// residual add and squeeze-and-excitation: Elementwise.swift.)

/// N x in (any H, W flattened per sample) → N x out x 1 x 1: one GEMM against the transposed weight.
public func linear(_ input: Tensor, _ layer: Linear, context: KernelContext = .allCores) -> Tensor {
    let batch = input.batch, perSample = input.count / max(1, input.batch)
    precondition(perSample == layer.inFeatures, "linear expects \(layer.inFeatures) features, got \(perSample)")
    var output = Tensor(shape: [batch, layer.outFeatures, 1, 1], storage: uninitialisedFloats(batch * layer.outFeatures))
    input.storage.withUnsafeBufferPointer { inputBuffer in
    layer.weight.withUnsafeBufferPointer { weightBuffer in
    output.storage.withUnsafeMutableBufferPointer { outputBuffer in
        withBLASThreads(context) {
            sgemm(m: batch, n: layer.outFeatures, k: layer.inFeatures,
                  a: inputBuffer.baseAddress!, lda: layer.inFeatures,
                  b: weightBuffer.baseAddress!, ldb: layer.inFeatures,
                  c: outputBuffer.baseAddress!, ldc: layer.outFeatures, transposeB: true)
        }
        for n in 0..<batch { for o in 0..<layer.outFeatures { outputBuffer[n * layer.outFeatures + o] += layer.bias[o] } }
    } } }
    return output
}

/// Concatenates along channels: parts N x C_i x H x W → N x ΣC_i x H x W.
public func concatChannels(_ parts: [Tensor], context: KernelContext = .allCores) -> Tensor {
    precondition(!parts.isEmpty, "concatChannels needs at least one part")
    let batch = parts[0].batch, height = parts[0].height, width = parts[0].width
    let channels = parts.reduce(0) { $0 + $1.channels }
    var output = Tensor(shape: [batch, channels, height, width], storage: uninitialisedFloats(batch * channels * height * width))
    var offset = 0
    for part in parts {
        copyChannels(part, into: &output, channelOffset: offset, context: context)
        offset += part.channels
    }
    return output
}

/// Copies part (N x C x H x W) into channels channelOffset ..< channelOffset + C of output.
public func copyChannels(_ part: Tensor, into output: inout Tensor, channelOffset: Int, context: KernelContext = .allCores) {
    precondition(part.batch == output.batch && part.height == output.height && part.width == output.width
                 && channelOffset >= 0 && channelOffset + part.channels <= output.channels,
                 "copyChannels: \(part.shape) does not fit \(output.shape) at channel \(channelOffset)")
    let block = part.channels * part.height * part.width, plane = part.height * part.width
    let totalChannels = output.channels
    part.storage.withUnsafeBufferPointer { partBuffer in
    output.storage.withUnsafeMutableBufferPointer { outputBuffer in
        let source = partBuffer.baseAddress!, destination = outputBuffer.baseAddress!
        parallelChunks(part.batch, context, minimumChunk: max(1, 65536 / max(1, block))) { images in
            for image in images {
                (destination + (image * totalChannels + channelOffset) * plane).update(from: source + image * block, count: block)
            }
        }
    } }
}
