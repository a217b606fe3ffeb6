// Depthwise convolution (one input channel per group, any channel multiplier OC/IC):
//   input N x IC x H x W, weight OC x 1 x KH x KW → N x OC x OH x OW.
// Called by conv2d (Convolution.swift) when IC/groups == 1.

import Foundation

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
