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
// Convolution strategy, per image (so results never depend on the batch size):
//   1x1, stride 1, no padding   → one GEMM per group straight on the input planes (no im2col)
//   one input channel per group → direct depthwise kernel (no GEMM)
//   3x3 stride 1, big enough    → Winograd F(2x2, 3x3): 16 GEMMs on transformed tiles (Winograd.swift)
//   otherwise                   → im2col into a K x P buffer, then one GEMM per group
// Bias, residual add and activation are applied in a single output pass after the GEMM.

import COpenBLAS
import Foundation

// MARK: - Convolution

/// How a convolution is computed. `.automatic` takes Winograd F(2x2, 3x3) for 3x3 stride-1
/// ungrouped convolutions large enough to gain (Winograd.swift), im2col/GEMM otherwise;
/// `.winograd` forces it wherever it is valid (tests), `.direct` never uses it.
public enum ConvolutionAlgorithm: Sendable {
    case automatic, direct, winograd
}

/// input N x IC x H x W → N x OC x OH x OW; output = activation(conv(input) + bias [+ residual]).
public func conv2d(_ input: Tensor, _ layer: Conv2D, activation: Activation = .identity,
                   residual: Tensor? = nil, algorithm: ConvolutionAlgorithm = .automatic,
                   context: KernelContext = .allCores) -> Tensor {
    let (outputHeight, outputWidth) = layer.geometry.outputSize(height: input.height, width: input.width)
    var output = Tensor(shape: [input.batch, layer.outChannels, outputHeight, outputWidth],
                        storage: uninitialisedFloats(input.batch * layer.outChannels * outputHeight * outputWidth))
    conv2d(input, layer, activation: activation, residual: residual, into: &output, channelOffset: 0,
           algorithm: algorithm, context: context)
    return output
}

/// Writes the convolution into channels channelOffset ..< channelOffset + OC of `output`
/// (N x C_total x OH x OW), so concatenated branches need no copy.
public func conv2d(_ input: Tensor, _ layer: Conv2D, activation: Activation = .identity, residual: Tensor? = nil,
                   into output: inout Tensor, channelOffset: Int, algorithm: ConvolutionAlgorithm = .automatic,
                   context: KernelContext = .allCores) {
    let geometry = layer.geometry
    precondition(input.channels == layer.inChannels, "conv expects \(layer.inChannels) channels, got \(input.channels)")
    let batch = input.batch, inChannels = input.channels, height = input.height, width = input.width
    let (outputHeight, outputWidth) = geometry.outputSize(height: height, width: width)
    precondition(outputHeight > 0 && outputWidth > 0, "conv output would be empty for a \(height)x\(width) input")
    precondition(output.batch == batch && output.height == outputHeight && output.width == outputWidth
                 && channelOffset >= 0 && channelOffset + layer.outChannels <= output.channels,
                 "conv output slice does not fit \(output.shape)")
    if let residual {
        precondition(residual.shape == [batch, layer.outChannels, outputHeight, outputWidth], "residual shape mismatch")
    }
    let outChannels = layer.outChannels, totalChannels = output.channels
    let plane = outputHeight * outputWidth
    let groups = geometry.groups
    let inPerGroup = inChannels / groups, outPerGroup = outChannels / groups
    let kernelArea = geometry.kernelHeight * geometry.kernelWidth
    let depthPerGroup = inPerGroup * kernelArea          // GEMM K
    let pointwise = kernelArea == 1 && geometry.strideY == 1 && geometry.strideX == 1
        && geometry.padTop == 0 && geometry.padLeft == 0 && geometry.padBottom == 0 && geometry.padRight == 0
    let depthwise = inPerGroup == 1 && groups > 1 && !pointwise
    let residualStorage = residual?.storage ?? []

    input.storage.withUnsafeBufferPointer { inputBuffer in
    layer.weight.withUnsafeBufferPointer { weightBuffer in
    layer.bias.withUnsafeBufferPointer { biasBuffer in
    residualStorage.withUnsafeBufferPointer { residualBuffer in
    output.storage.withUnsafeMutableBufferPointer { outputBuffer in
        let source = inputBuffer.baseAddress!, weights = weightBuffer.baseAddress!, bias = biasBuffer.baseAddress!
        let destination = outputBuffer.baseAddress!
        let residualBase = residual == nil ? nil : residualBuffer.baseAddress
        @inline(__always) func outputRow(_ image: Int, _ channel: Int) -> UnsafeMutablePointer<Float> {
            destination + ((image * totalChannels + channelOffset + channel) * plane)
        }

        if depthwise {
            depthwiseConvolution(source: source, weights: weights, bias: bias, residual: residualBase,
                                 batch: batch, inChannels: inChannels, height: height, width: width,
                                 outChannels: outChannels, geometry: geometry,
                                 outputHeight: outputHeight, outputWidth: outputWidth,
                                 outputRow: outputRow, activation: activation, context: context)
            return
        }

        if algorithm != .direct && !pointwise
            && (algorithm == .winograd
                || (context.winograd && winogradApplies(geometry, inChannels: inChannels, outputHeight: outputHeight, outputWidth: outputWidth)))
            && geometry.kernelHeight == 3 && geometry.kernelWidth == 3 && geometry.strideY == 1 && geometry.strideX == 1
            && geometry.dilationY == 1 && geometry.dilationX == 1 && groups == 1 {
            let tiles = ((outputHeight + 1) / 2) * ((outputWidth + 1) / 2)
            var filters = uninitialisedFloats(16 * outChannels * inChannels)
            var inputTiles = uninitialisedFloats(16 * inChannels * tiles)
            var products = uninitialisedFloats(16 * outChannels * tiles)
            filters.withUnsafeMutableBufferPointer { filterBuffer in
            inputTiles.withUnsafeMutableBufferPointer { tileBuffer in
            products.withUnsafeMutableBufferPointer { productBuffer in
                winogradFilterTransform(weights, outChannels: outChannels, inChannels: inChannels,
                                        into: filterBuffer.baseAddress!, context: context)
                for image in 0..<batch {
                    winogradConvolution(source: source + image * inChannels * height * width, inChannels: inChannels,
                                        height: height, width: width, filters: filterBuffer.baseAddress!,
                                        outChannels: outChannels, bias: bias, padTop: geometry.padTop, padLeft: geometry.padLeft,
                                        outputHeight: outputHeight, outputWidth: outputWidth,
                                        residual: residualBase.map { $0 + image * outChannels * plane }, activation: activation,
                                        outputRow: { outputRow(image, $0) },
                                        inputTiles: tileBuffer.baseAddress!, products: productBuffer.baseAddress!, context: context)
                }
            } } }
            return
        }

        useBLASThreads(context)
        if pointwise {
            // Each group: out[OC/g x P] = W[OC/g x IC/g] · X[IC/g x P], X the input planes as they lie.
            for image in 0..<batch {
                for group in 0..<groups {
                    sgemm(m: outPerGroup, n: plane, k: inPerGroup,
                          a: weights + group * outPerGroup * inPerGroup, lda: inPerGroup,
                          b: source + (image * inChannels + group * inPerGroup) * plane, ldb: plane,
                          c: outputRow(image, group * outPerGroup), ldc: plane)
                }
            }
        } else {
            // im2col: row (c, ky, kx) holds input[c, oy*sy - pt + ky*dy, ox*sx - pl + kx*dx] for every (oy, ox).
            var columns = uninitialisedFloats(inChannels * kernelArea * plane)
            columns.withUnsafeMutableBufferPointer { columnBuffer in
                let columnBase = columnBuffer.baseAddress!
                for image in 0..<batch {
                    im2col(source: source + image * inChannels * height * width, channels: inChannels,
                           height: height, width: width, geometry: geometry,
                           outputHeight: outputHeight, outputWidth: outputWidth, columns: columnBase, context: context)
                    for group in 0..<groups {
                        sgemm(m: outPerGroup, n: plane, k: depthPerGroup,
                              a: weights + group * outPerGroup * depthPerGroup, lda: depthPerGroup,
                              b: columnBase + group * depthPerGroup * plane, ldb: plane,
                              c: outputRow(image, group * outPerGroup), ldc: plane)
                    }
                }
            }
        }
        // Output pass: bias, residual and activation in one sweep over each row.
        parallelChunks(batch * outChannels, context, minimumChunk: max(1, 4096 / max(1, plane))) { rows in
            for row in rows {
                let image = row / outChannels, channel = row % outChannels
                finishRow(outputRow(image, channel), count: plane, bias: bias[channel],
                          residual: residualBase.map { $0 + row * plane }, activation: activation)
            }
        }
    } } } } }
}

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

/// The output positions o in 0..<outputCount whose input index o*stride + offset lies in 0..<inputCount.
@inline(__always)
func validRange(outputCount: Int, stride: Int, offset: Int, inputCount: Int) -> Range<Int> {
    let low = offset >= 0 ? 0 : (-offset + stride - 1) / stride
    let last = inputCount - 1 - offset
    let high = last < 0 ? 0 : min(outputCount, last / stride + 1)
    return low < high ? low..<high : 0..<0
}

/// source C x H x W → columns (C·KH·KW) x (OH·OW), zeros where the window reads padding.
func im2col(source: UnsafePointer<Float>, channels: Int, height: Int, width: Int, geometry: ConvGeometry,
            outputHeight: Int, outputWidth: Int, columns: UnsafeMutablePointer<Float>, context: KernelContext) {
    let kernelHeight = geometry.kernelHeight, kernelWidth = geometry.kernelWidth
    let kernelArea = kernelHeight * kernelWidth, plane = outputHeight * outputWidth
    let strideY = geometry.strideY, strideX = geometry.strideX
    parallelChunks(channels * kernelArea, context, minimumChunk: max(1, 8192 / max(1, plane))) { rows in
        for row in rows {
            let channel = row / kernelArea, ky = (row % kernelArea) / kernelWidth, kx = row % kernelWidth
            let channelPlane = source + channel * height * width
            let destination = columns + row * plane
            let offsetX = kx * geometry.dilationX - geometry.padLeft
            let columnsInside = validRange(outputCount: outputWidth, stride: strideX, offset: offsetX, inputCount: width)
            for oy in 0..<outputHeight {
                let iy = oy * strideY - geometry.padTop + ky * geometry.dilationY
                let line = destination + oy * outputWidth
                guard iy >= 0 && iy < height && !columnsInside.isEmpty else {
                    line.update(repeating: 0, count: outputWidth)
                    continue
                }
                let inputLine = channelPlane + iy * width + offsetX
                for ox in 0..<columnsInside.lowerBound { line[ox] = 0 }
                if strideX == 1 {
                    (line + columnsInside.lowerBound).update(from: inputLine + columnsInside.lowerBound, count: columnsInside.count)
                } else {
                    for ox in columnsInside { line[ox] = inputLine[ox * strideX] }
                }
                for ox in columnsInside.upperBound..<outputWidth { line[ox] = 0 }
            }
        }
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
