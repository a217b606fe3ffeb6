// Pooling kernels, PyTorch semantics (PoolGeometry):
//   maxPool2d, avgPool2d   N x C x H x W → N x C x OH x OW
//   globalAveragePool      N x C x H x W → N x C x 1 x 1

import Foundation

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
