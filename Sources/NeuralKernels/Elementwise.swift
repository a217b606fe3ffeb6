// Element-wise kernels: the fused output pass every convolution ends with (bias, residual,
// activation), stand-alone activation and residual add, and squeeze-and-excitation.
//
//   finishRow / applyActivation   one row of `count` values, in place
//   activate, add                 N x C x H x W → same shape
//   squeezeExcitation             N x C x H x W → same shape, scaled per (n, c)

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
