// Element-wise kernels: the fused output pass every convolution ends with (bias, residual,
// activation), stand-alone activation and residual add, and squeeze-and-excitation.
//
//   fusedPass / applyActivation   one row of `count` values (in place or not)
//   activate, add                 N x C x H x W → same shape
//   squeezeExcitation             N x C x H x W → same shape, scaled per (n, c)
//
// All of them run on `Vector` (16 Float lanes). A row's tail that does not fill a vector goes
// through the same vector code on a zero-padded copy, so every element sees the same arithmetic
// wherever it lies: results never depend on how a tensor is split across threads.
// SiLU and sigmoid use `exponential`, a vector e^x within 1 ulp of expf (ElementwiseTests).

import Foundation

/// The lane vector of the element-wise and depthwise kernels.
typealias Vector = SIMD16<Float>

// MARK: - Loading and storing vectors at any alignment

extension UnsafePointer where Pointee == Float {
    @inline(always) func vector(at offset: Int) -> Vector {
        UnsafeRawPointer(self + offset).loadUnaligned(as: Vector.self)
    }
}

extension UnsafeMutablePointer where Pointee == Float {
    @inline(always) func vector(at offset: Int) -> Vector {
        UnsafeRawPointer(self + offset).loadUnaligned(as: Vector.self)
    }
    @inline(always) func store(_ value: Vector, at offset: Int) {
        UnsafeMutableRawPointer(self + offset).storeBytes(of: value, as: Vector.self)
    }
}

// MARK: - Vector exponential and activations

/// e^x per lane: Cephes expf (S. L. Moshier), vectorised. x = n·ln 2 + r with n = round(x·log2 e)
/// and |r| ≤ ln 2 / 2 (ln 2 split in two constants so n·ln 2 is exact), e^r by the Cephes
/// polynomial 1 + r + r²·P(r) (P of degree 5), 2^n built in the exponent bits. The input is
/// clamped to [ln 2^-126, 88.376] so 2^n stays a normal float: below, the result is ≈ 1.2e-38
/// instead of a denormal or 0; above, ≈ 2.4e38 instead of +inf. Both are harmless for SiLU and
/// sigmoid (1 + e^-x absorbs the first, x / 2.4e38 ≈ 0 for the second).
///
/// Written for SIMD16 and SIMD8 separately: in a generic function the stdlib's SIMD operators
/// resolve to its lane-by-lane protocol implementations, which compile to scalar code. The vector
/// helpers are @inline(always): under @inline(__always) the compiler kept them out of line and
/// passed every SIMD16 through memory (5x slower SiLU).
@inline(always)
func exponential(_ input: SIMD16<Float>) -> SIMD16<Float> {
    var x = input.replacing(with: 88.3762626647949, where: input .> 88.3762626647949)
    x = x.replacing(with: -87.3365447505531, where: x .< -87.3365447505531)
    // round(x·log2 e) by the 1.5·2^23 trick: the sum's low mantissa bits hold n, no conversion needed.
    let roundingShift = SIMD16<Float>(repeating: 12_582_912)
    let shifted = x * 1.44269504088896341 + roundingShift
    let n = shifted - roundingShift
    var r = x - n * 0.693359375
    r = r - n * -2.12194440e-4
    var polynomial = SIMD16<Float>(repeating: 1.9875691500e-4)
    polynomial = polynomial * r + 1.3981999507e-3
    polynomial = polynomial * r + 8.3334519073e-3
    polynomial = polynomial * r + 4.1665795894e-2
    polynomial = polynomial * r + 1.6666665459e-1
    polynomial = polynomial * r + 5.0000001201e-1
    let expR = polynomial * (r * r) + r + 1
    // shifted's bit pattern is 0x4B40_0000 + n; (n + 127) << 23 is the float 2^n.
    let exponentBits = (unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- (0x4B40_0000 - 127)) &<< 23
    return expR * unsafeBitCast(exponentBits, to: SIMD16<Float>.self)
}

/// exponential on 8 lanes (the same steps).
@inline(always)
func exponential(_ input: SIMD8<Float>) -> SIMD8<Float> {
    var x = input.replacing(with: 88.3762626647949, where: input .> 88.3762626647949)
    x = x.replacing(with: -87.3365447505531, where: x .< -87.3365447505531)
    let roundingShift = SIMD8<Float>(repeating: 12_582_912)
    let shifted = x * 1.44269504088896341 + roundingShift
    let n = shifted - roundingShift
    var r = x - n * 0.693359375
    r = r - n * -2.12194440e-4
    var polynomial = SIMD8<Float>(repeating: 1.9875691500e-4)
    polynomial = polynomial * r + 1.3981999507e-3
    polynomial = polynomial * r + 8.3334519073e-3
    polynomial = polynomial * r + 4.1665795894e-2
    polynomial = polynomial * r + 1.6666665459e-1
    polynomial = polynomial * r + 5.0000001201e-1
    let expR = polynomial * (r * r) + r + 1
    let exponentBits = (unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- (0x4B40_0000 - 127)) &<< 23
    return expR * unsafeBitCast(exponentBits, to: SIMD8<Float>.self)
}

/// e^x of every value through `exponential` (16 lanes at a time), the function SiLU and sigmoid use:
/// public so the accuracy tests can reach it.
public func vectorExponential(_ values: [Float]) -> [Float] {
    var result = values
    var i = 0
    while i < values.count {
        var lanes = SIMD16<Float>()
        for lane in 0..<min(16, values.count - i) { lanes[lane] = values[i + lane] }
        let powers = exponential(lanes)
        for lane in 0..<min(16, values.count - i) { result[i + lane] = powers[lane] }
        i += 16
    }
    return result
}

extension Activation {
    /// The activation on 16 lanes (SiLU and sigmoid through `exponential`, not expf).
    @inline(always)
    func apply(_ x: SIMD16<Float>) -> SIMD16<Float> {
        switch self {
        case .identity: return x
        case .relu: return x.replacing(with: 0, where: x .< 0)
        case .relu6: return x.replacing(with: 0, where: x .< 0).replacing(with: 6, where: x .> 6)
        case .silu: return x / (1 + exponential(-x))
        case .sigmoid: return 1 / (1 + exponential(-x))
        }
    }

    /// The activation on 8 lanes.
    @inline(always)
    func apply(_ x: SIMD8<Float>) -> SIMD8<Float> {
        switch self {
        case .identity: return x
        case .relu: return x.replacing(with: 0, where: x .< 0)
        case .relu6: return x.replacing(with: 0, where: x .< 0).replacing(with: 6, where: x .> 6)
        case .silu: return x / (1 + exponential(-x))
        case .sigmoid: return 1 / (1 + exponential(-x))
        }
    }
}

/// Loads 16 values at offset, or only the first `count - offset` of them (zeros after) at the tail.
@inline(always)
func loadVector(_ values: UnsafePointer<Float>, at offset: Int, count: Int) -> Vector {
    if offset + Vector.scalarCount <= count { return values.vector(at: offset) }
    return loadPrefix(values + offset, count: count - offset)
}

// MARK: - Output pass

/// values[i] = activation(values[i]) for i in 0..<count.
@inline(always)
func applyActivation(_ values: UnsafeMutablePointer<Float>, count: Int, _ activation: Activation) {
    if activation == .identity { return }
    fusedPass(from: values, bias: 0, residual: nil, into: values, count: count, activation: activation)
}

/// destination[i] = activation((source[i] + bias) [+ residual[i]]) for i in 0..<count; source may
/// be destination. No closures on the vector path: a closure taking SIMD16 is not reliably inlined
/// and then runs on 128-bit halves through a call. Not inlined into its callers: it is a whole loop,
/// and inlining it into winogradOutputTransform crashes the Swift 6.3.1 compiler (IRGen, signal 11).
@inline(never)
func fusedPass(from source: UnsafePointer<Float>, bias: Float, residual: UnsafePointer<Float>?,
               into destination: UnsafeMutablePointer<Float>, count: Int, activation: Activation) {
    // The activation is chosen once per row, not per vector: each case is its own small specialised loop,
    // where the vector loads and stores inline (a single loop over every case leaves them out-of-line calls).
    let done: Int
    switch activation {
    case .identity: done = fusedLoop(IdentityLanes.self, source, bias, residual, destination, count)
    case .relu: done = fusedLoop(ReLULanes.self, source, bias, residual, destination, count)
    case .relu6: done = fusedLoop(ReLU6Lanes.self, source, bias, residual, destination, count)
    case .silu: done = fusedLoop(SiLULanes.self, source, bias, residual, destination, count)
    case .sigmoid: done = fusedLoop(SigmoidLanes.self, source, bias, residual, destination, count)
    }
    guard done < count else { return }
    var value = loadVector(source, at: done, count: count) + Vector(repeating: bias)
    if let residual { value = value + loadVector(residual, at: done, count: count) }
    let result = activation.apply(value)
    storePrefix(result, to: destination + done, count: count - done)
}

/// The whole vectors of fusedPass for one activation; returns how many values it wrote.
@inline(never)
private func fusedLoop<A: LaneActivation>(_ activation: A.Type, _ source: UnsafePointer<Float>, _ bias: Float,
                                          _ residual: UnsafePointer<Float>?, _ destination: UnsafeMutablePointer<Float>,
                                          _ count: Int) -> Int {
    let biasVector = Vector(repeating: bias), lanes = Vector.scalarCount
    var i = 0
    if let residual {
        while i + lanes <= count {
            destination.store(A.apply((source.vector(at: i) + biasVector) + residual.vector(at: i)), at: i)
            i += lanes
        }
    } else {
        while i + lanes <= count {
            destination.store(A.apply(source.vector(at: i) + biasVector), at: i)
            i += lanes
        }
    }
    return i
}

/// An activation on 16 lanes as a type, so that fusedLoop (and the packed GEMM's finishing tiles,
/// PackedGemm.swift) is specialised per activation (the same arithmetic as Activation.apply).
protocol LaneActivation { static func apply(_ x: Vector) -> Vector }
enum IdentityLanes: LaneActivation { @inline(always) static func apply(_ x: Vector) -> Vector { x } }
enum ReLULanes: LaneActivation { @inline(always) static func apply(_ x: Vector) -> Vector { Activation.relu.apply(x) } }
enum ReLU6Lanes: LaneActivation { @inline(always) static func apply(_ x: Vector) -> Vector { Activation.relu6.apply(x) } }
enum SiLULanes: LaneActivation { @inline(always) static func apply(_ x: Vector) -> Vector { Activation.silu.apply(x) } }
enum SigmoidLanes: LaneActivation { @inline(always) static func apply(_ x: Vector) -> Vector { Activation.sigmoid.apply(x) } }

// MARK: - Stand-alone element-wise operations

/// N x C x H x W → same shape, activation applied to every value.
public func activate(_ input: Tensor, _ activation: Activation, context: KernelContext = .allCores) -> Tensor {
    if activation == .identity { return input }
    var output = Tensor(shape: input.shape, storage: uninitialisedFloats(input.count))
    input.storage.withUnsafeBufferPointer { inputBuffer in
    output.storage.withUnsafeMutableBufferPointer { outputBuffer in
        let source = inputBuffer.baseAddress!, values = outputBuffer.baseAddress!
        parallelChunks(inputBuffer.count, context, minimumChunk: 16384) { range in
            let start = range.lowerBound
            fusedPass(from: source + start, bias: 0, residual: nil, into: values + start, count: range.count, activation: activation)
        }
    } }
    return output
}

/// a + b, then activation (the residual join). Shapes N x C x H x W, equal.
public func add(_ a: Tensor, _ b: Tensor, activation: Activation = .identity, context: KernelContext = .allCores) -> Tensor {
    precondition(a.shape == b.shape, "add: shapes \(a.shape) and \(b.shape) differ")
    var output = Tensor(shape: a.shape, storage: uninitialisedFloats(a.count))
    a.storage.withUnsafeBufferPointer { firstBuffer in
    b.storage.withUnsafeBufferPointer { secondBuffer in
    output.storage.withUnsafeMutableBufferPointer { outputBuffer in
        let first = firstBuffer.baseAddress!, second = secondBuffer.baseAddress!, values = outputBuffer.baseAddress!
        parallelChunks(outputBuffer.count, context, minimumChunk: 16384) { range in
            let start = range.lowerBound
            fusedPass(from: first + start, bias: 0, residual: second + start, into: values + start, count: range.count,
                      activation: activation)
        }
    } } }
    return output
}

/// Squeeze-and-excitation: x * sigmoid(expand(act(reduce(avgpool(x))))), per channel.
/// input N x C x H x W; reduce C → S and expand S → C are 1x1 convolutions on N x C x 1 x 1.
public func squeezeExcitation(_ input: Tensor, reduce: Conv2D, expand: Conv2D, activation: Activation,
                              context: KernelContext = .allCores) -> Tensor {
    let squeezed = globalAveragePool(input, context: context)
    let scale = conv2d(conv2d(squeezed, reduce, activation: activation, context: context), expand,
                       activation: .sigmoid, context: context)
    var output = Tensor(shape: input.shape, storage: uninitialisedFloats(input.count))
    let plane = input.height * input.width
    input.storage.withUnsafeBufferPointer { inputBuffer in
    scale.storage.withUnsafeBufferPointer { scaleBuffer in
    output.storage.withUnsafeMutableBufferPointer { outputBuffer in
        let source = inputBuffer.baseAddress!, values = outputBuffer.baseAddress!, scales = scaleBuffer.baseAddress!
        parallelChunks(input.batch * input.channels, context, minimumChunk: max(1, 8192 / max(1, plane))) { planes in
            for index in planes {
                let factor = Vector(repeating: scales[index])
                let inputRow = source + index * plane, outputRow = values + index * plane
                var i = 0
                while i + Vector.scalarCount <= plane {
                    outputRow.store(inputRow.vector(at: i) * factor, at: i)
                    i += Vector.scalarCount
                }
                while i < plane { outputRow[i] = inputRow[i] * scales[index]; i += 1 }
            }
        }
    } } }
    return output
}
