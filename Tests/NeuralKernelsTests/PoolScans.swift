// The max pool as a tap-by-tap scan that keeps the first maximum in (ky, kx) order (a later tap replaces the running
// value only when strictly greater: PyTorch's CPU max_pool2d rule), for the bit-exact pool tests
// (FastKernelTests.testMaxPoolIsExactWithTies, DepthwiseAndPoolingTests.testStrideTwoPoolsAreBitExact).

import NeuralKernels

func firstMaximumScan(_ input: Tensor, _ g: PoolGeometry) -> [Float] {
    let (oh, ow) = g.outputSize(height: input.height, width: input.width)
    var result = [Float]()
    for plane in 0..<(input.batch * input.channels) { for y in 0..<oh { for x in 0..<ow {
        var best = -Float.infinity
        for ky in 0..<g.kernelHeight { for kx in 0..<g.kernelWidth {
            let iy = y * g.strideY - g.padY + ky, ix = x * g.strideX - g.padX + kx
            guard iy >= 0 && iy < input.height && ix >= 0 && ix < input.width else { continue }
            let value = input.storage[(plane * input.height + iy) * input.width + ix]
            if value > best { best = value }
        } }
        result.append(best)
    } } }
    return result
}
