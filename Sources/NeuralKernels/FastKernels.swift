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

/// row[i] = activation(row[i] + bias [+ residual[i]]), the order PyTorch applies them.
@inline(__always)
func finishRow(_ row: UnsafeMutablePointer<Float>, count: Int, bias: Float,
               residual: UnsafePointer<Float>?, activation: Activation) {
    if let residual {
        for i in 0..<count { row[i] = (row[i] + bias) + residual[i] }
    } else if bias != 0 {
        for i in 0..<count { row[i] += bias }
    }
    applyActivation(row, count: count, activation)
}

@inline(__always)
func applyActivation(_ values: UnsafeMutablePointer<Float>, count: Int, _ activation: Activation) {
    switch activation {
    case .identity: break
    case .relu: for i in 0..<count { values[i] = max(values[i], 0) }
    case .relu6: for i in 0..<count { values[i] = min(max(values[i], 0), 6) }
    case .silu, .sigmoid: for i in 0..<count { values[i] = activation.apply(values[i]) }
    }
}

/// One input channel per group (depthwise, channel multiplier OC/IC): direct loops per output plane,
/// accumulating bias, then taps in (ky, kx) order as the naive twin does.
func depthwiseConvolution(source: UnsafePointer<Float>, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                          residual: UnsafePointer<Float>?,
                          batch: Int, inChannels: Int, height: Int, width: Int, outChannels: Int, geometry: ConvGeometry,
                          outputHeight: Int, outputWidth: Int,
                          outputRow: (Int, Int) -> UnsafeMutablePointer<Float>,
                          activation: Activation, context: KernelContext) {
    let outPerGroup = outChannels / geometry.groups
    let kernelHeight = geometry.kernelHeight, kernelWidth = geometry.kernelWidth
    let strideY = geometry.strideY, strideX = geometry.strideX
    let plane = outputHeight * outputWidth
    parallelChunks(batch * outChannels, context) { items in
        for item in items {
            let image = item / outChannels, channel = item % outChannels
            let inputPlane = source + (image * inChannels + channel / outPerGroup) * height * width
            let output = outputRow(image, channel)
            output.update(repeating: bias[channel], count: plane)
            let kernel = weights + channel * kernelHeight * kernelWidth
            for oy in 0..<outputHeight {
                let line = output + oy * outputWidth
                for ky in 0..<kernelHeight {
                    let iy = oy * strideY - geometry.padTop + ky * geometry.dilationY
                    if iy < 0 || iy >= height { continue }
                    let inputLine = inputPlane + iy * width
                    for kx in 0..<kernelWidth {
                        let tap = kernel[ky * kernelWidth + kx]
                        let offsetX = kx * geometry.dilationX - geometry.padLeft
                        let inside = validRange(outputCount: outputWidth, stride: strideX, offset: offsetX, inputCount: width)
                        if strideX == 1 {
                            let shifted = inputLine + offsetX
                            for ox in inside { line[ox] += tap * shifted[ox] }
                        } else {
                            for ox in inside { line[ox] += tap * inputLine[ox * strideX + offsetX] }
                        }
                    }
                }
            }
            finishRow(output, count: plane, bias: 0, residual: residual.map { $0 + item * plane }, activation: activation)
        }
    }
}

// MARK: - Pooling

/// N x C x H x W → N x C x OH x OW, the maximum over each window (padding never wins).
public func maxPool2d(_ input: Tensor, _ geometry: PoolGeometry, context: KernelContext = .allCores) -> Tensor {
    let (outputHeight, outputWidth) = geometry.outputSize(height: input.height, width: input.width)
    let height = input.height, width = input.width
    let planes = input.batch * input.channels, plane = outputHeight * outputWidth
    var output = Tensor(shape: [input.batch, input.channels, outputHeight, outputWidth], storage: uninitialisedFloats(planes * plane))
    input.storage.withUnsafeBufferPointer { inputBuffer in
    output.storage.withUnsafeMutableBufferPointer { outputBuffer in
        let source = inputBuffer.baseAddress!, destination = outputBuffer.baseAddress!
        parallelChunks(planes, context, minimumChunk: max(1, 2048 / max(1, plane))) { range in
            for index in range {
                let inputPlane = source + index * height * width, outputPlane = destination + index * plane
                for oy in 0..<outputHeight {
                    let y0 = oy * geometry.strideY - geometry.padY
                    let ys = max(y0, 0), ye = min(y0 + geometry.kernelHeight, height)
                    for ox in 0..<outputWidth {
                        let x0 = ox * geometry.strideX - geometry.padX
                        let xs = max(x0, 0), xe = min(x0 + geometry.kernelWidth, width)
                        var best = -Float.infinity
                        var iy = ys
                        while iy < ye {
                            let line = inputPlane + iy * width
                            var ix = xs
                            while ix < xe { best = max(best, line[ix]); ix += 1 }
                            iy += 1
                        }
                        outputPlane[oy * outputWidth + ox] = best
                    }
                }
            }
        }
    } }
    return output
}

/// PyTorch avg_pool2d: the divisor counts padded cells inside the padded input when
/// countIncludePad, never the cells past it that ceil_mode adds.
public func avgPool2d(_ input: Tensor, _ geometry: PoolGeometry, context: KernelContext = .allCores) -> Tensor {
    let (outputHeight, outputWidth) = geometry.outputSize(height: input.height, width: input.width)
    let height = input.height, width = input.width
    let planes = input.batch * input.channels, plane = outputHeight * outputWidth
    var output = Tensor(shape: [input.batch, input.channels, outputHeight, outputWidth], storage: uninitialisedFloats(planes * plane))
    input.storage.withUnsafeBufferPointer { inputBuffer in
    output.storage.withUnsafeMutableBufferPointer { outputBuffer in
        let source = inputBuffer.baseAddress!, destination = outputBuffer.baseAddress!
        parallelChunks(planes, context, minimumChunk: max(1, 2048 / max(1, plane))) { range in
            for index in range {
                let inputPlane = source + index * height * width, outputPlane = destination + index * plane
                for oy in 0..<outputHeight {
                    let y0 = oy * geometry.strideY - geometry.padY
                    let y1 = min(y0 + geometry.kernelHeight, height + geometry.padY)
                    let ys = max(y0, 0), ye = min(y1, height)
                    for ox in 0..<outputWidth {
                        let x0 = ox * geometry.strideX - geometry.padX
                        let x1 = min(x0 + geometry.kernelWidth, width + geometry.padX)
                        let xs = max(x0, 0), xe = min(x1, width)
                        var sum: Float = 0
                        var iy = ys
                        while iy < ye {
                            let line = inputPlane + iy * width
                            var ix = xs
                            while ix < xe { sum += line[ix]; ix += 1 }
                            iy += 1
                        }
                        let divisor = geometry.countIncludePad ? (y1 - y0) * (x1 - x0) : max(0, ye - ys) * max(0, xe - xs)
                        outputPlane[oy * outputWidth + ox] = sum / Float(divisor)
                    }
                }
            }
        }
    } }
    return output
}

/// N x C x H x W → N x C x 1 x 1.
public func globalAveragePool(_ input: Tensor, context: KernelContext = .allCores) -> Tensor {
    let planes = input.batch * input.channels, plane = input.height * input.width
    var output = Tensor(shape: [input.batch, input.channels, 1, 1], storage: uninitialisedFloats(planes))
    input.storage.withUnsafeBufferPointer { inputBuffer in
    output.storage.withUnsafeMutableBufferPointer { outputBuffer in
        let source = inputBuffer.baseAddress!, destination = outputBuffer.baseAddress!
        parallelChunks(planes, context, minimumChunk: max(1, 8192 / max(1, plane))) { range in
            for index in range {
                let values = source + index * plane
                var sum: Float = 0
                for i in 0..<plane { sum += values[i] }
                destination[index] = sum / Float(plane)
            }
        }
    } }
    return output
}

// MARK: - Dense, element-wise, concatenation

/// N x in (any H, W flattened per sample) → N x out x 1 x 1: one GEMM against the transposed weight.
public func linear(_ input: Tensor, _ layer: Linear, context: KernelContext = .allCores) -> Tensor {
    let batch = input.batch, perSample = input.count / max(1, input.batch)
    precondition(perSample == layer.inFeatures, "linear expects \(layer.inFeatures) features, got \(perSample)")
    var output = Tensor(shape: [batch, layer.outFeatures, 1, 1], storage: uninitialisedFloats(batch * layer.outFeatures))
    input.storage.withUnsafeBufferPointer { inputBuffer in
    layer.weight.withUnsafeBufferPointer { weightBuffer in
    output.storage.withUnsafeMutableBufferPointer { outputBuffer in
        useBLASThreads(context)
        sgemm(m: batch, n: layer.outFeatures, k: layer.inFeatures,
              a: inputBuffer.baseAddress!, lda: layer.inFeatures,
              b: weightBuffer.baseAddress!, ldb: layer.inFeatures,
              c: outputBuffer.baseAddress!, ldc: layer.outFeatures, transposeB: true)
        for n in 0..<batch { for o in 0..<layer.outFeatures { outputBuffer[n * layer.outFeatures + o] += layer.bias[o] } }
    } } }
    return output
}

public func activate(_ input: Tensor, _ activation: Activation, context: KernelContext = .allCores) -> Tensor {
    var output = input
    output.storage.withUnsafeMutableBufferPointer { buffer in
        let values = buffer.baseAddress!
        parallelChunks(buffer.count, context, minimumChunk: 16384) { range in
            applyActivation(values + range.lowerBound, count: range.count, activation)
        }
    }
    return output
}

/// a + b, then activation (the residual join).
public func add(_ a: Tensor, _ b: Tensor, activation: Activation = .identity, context: KernelContext = .allCores) -> Tensor {
    precondition(a.shape == b.shape, "add: shapes \(a.shape) and \(b.shape) differ")
    var output = a
    b.storage.withUnsafeBufferPointer { otherBuffer in
    output.storage.withUnsafeMutableBufferPointer { buffer in
        let values = buffer.baseAddress!, other = otherBuffer.baseAddress!
        parallelChunks(buffer.count, context, minimumChunk: 16384) { range in
            for i in range { values[i] += other[i] }
            applyActivation(values + range.lowerBound, count: range.count, activation)
        }
    } }
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

/// Squeeze-and-excitation: x * sigmoid(expand(act(reduce(avgpool(x))))), per channel.
public func squeezeExcitation(_ input: Tensor, reduce: Conv2D, expand: Conv2D, activation: Activation,
                              context: KernelContext = .allCores) -> Tensor {
    let squeezed = globalAveragePool(input, context: context)
    let scale = conv2d(conv2d(squeezed, reduce, activation: activation, context: context), expand,
                       activation: .sigmoid, context: context)
    var output = input
    let plane = input.height * input.width
    scale.storage.withUnsafeBufferPointer { scaleBuffer in
    output.storage.withUnsafeMutableBufferPointer { buffer in
        let values = buffer.baseAddress!, scales = scaleBuffer.baseAddress!
        parallelChunks(input.batch * input.channels, context, minimumChunk: max(1, 8192 / max(1, plane))) { planes in
            for index in planes {
                let factor = scales[index], row = values + index * plane
                for i in 0..<plane { row[i] *= factor }
            }
        }
    } }
    return output
}
