// Dot-product kernels that run on the calling thread, for the heads' many small products.
// OpenBLAS splits a dgemv/dgemm across its threads once m*n (*k) passes a small threshold; on a
// busy machine those threads spin in sched_yield waiting for each other and a 0.2 s SVM fit was
// measured at 4-100 s (scripts/bench_heads.py, BENCHMARKS.md). These loops never leave the thread,
// and their summation order is fixed, so equal inputs always give bitwise equal outputs
// (dot(a, b) == dot(b, a), gram(A) exactly symmetric).

/// sum_t a[t] * b[t] over `count` entries: two SIMD8 accumulators, then a scalar tail.
@inlinable
public func dot(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, count: Int) -> Double {
    var s0 = SIMD8<Double>(), s1 = SIMD8<Double>()
    var t = 0
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    let stride = MemoryLayout<Double>.stride
    while t + 16 <= count {
        s0 += ra.loadUnaligned(fromByteOffset: t * stride, as: SIMD8<Double>.self) * rb.loadUnaligned(fromByteOffset: t * stride, as: SIMD8<Double>.self)
        s1 += ra.loadUnaligned(fromByteOffset: (t + 8) * stride, as: SIMD8<Double>.self) * rb.loadUnaligned(fromByteOffset: (t + 8) * stride, as: SIMD8<Double>.self)
        t += 16
    }
    if t + 8 <= count {
        s0 += ra.loadUnaligned(fromByteOffset: t * stride, as: SIMD8<Double>.self) * rb.loadUnaligned(fromByteOffset: t * stride, as: SIMD8<Double>.self)
        t += 8
    }
    var sum = (s0 + s1).sum()
    while t < count { sum += a[t] * b[t]; t += 1 }
    return sum
}

/// The dots of a with b0 ... b3 (each `count` doubles), each with `dot`'s arithmetic in `dot`'s order, so every
/// lane equals `dot(a, b_k, count:)` bit for bit; a is loaded once for the four (a Gram matrix's inner loop).
public func dot4(_ a: UnsafePointer<Double>, _ b0: UnsafePointer<Double>, _ b1: UnsafePointer<Double>, _ b2: UnsafePointer<Double>,
                 _ b3: UnsafePointer<Double>, count: Int) -> SIMD4<Double> {
    typealias V = SIMD8<Double>
    var s00 = V(), s01 = V(), s10 = V(), s11 = V(), s20 = V(), s21 = V(), s30 = V(), s31 = V()
    var t = 0
    let ra = UnsafeRawPointer(a), r0 = UnsafeRawPointer(b0), r1 = UnsafeRawPointer(b1), r2 = UnsafeRawPointer(b2), r3 = UnsafeRawPointer(b3)
    let stride = MemoryLayout<Double>.stride
    while t + 16 <= count {
        let o0 = t * stride, o1 = (t + 8) * stride
        let a0 = ra.loadUnaligned(fromByteOffset: o0, as: V.self), a1 = ra.loadUnaligned(fromByteOffset: o1, as: V.self)
        s00 += a0 * r0.loadUnaligned(fromByteOffset: o0, as: V.self); s01 += a1 * r0.loadUnaligned(fromByteOffset: o1, as: V.self)
        s10 += a0 * r1.loadUnaligned(fromByteOffset: o0, as: V.self); s11 += a1 * r1.loadUnaligned(fromByteOffset: o1, as: V.self)
        s20 += a0 * r2.loadUnaligned(fromByteOffset: o0, as: V.self); s21 += a1 * r2.loadUnaligned(fromByteOffset: o1, as: V.self)
        s30 += a0 * r3.loadUnaligned(fromByteOffset: o0, as: V.self); s31 += a1 * r3.loadUnaligned(fromByteOffset: o1, as: V.self)
        t += 16
    }
    if t + 8 <= count {
        let o0 = t * stride
        let a0 = ra.loadUnaligned(fromByteOffset: o0, as: V.self)
        s00 += a0 * r0.loadUnaligned(fromByteOffset: o0, as: V.self); s10 += a0 * r1.loadUnaligned(fromByteOffset: o0, as: V.self)
        s20 += a0 * r2.loadUnaligned(fromByteOffset: o0, as: V.self); s30 += a0 * r3.loadUnaligned(fromByteOffset: o0, as: V.self)
        t += 8
    }
    var sum = SIMD4((s00 + s01).sum(), (s10 + s11).sum(), (s20 + s21).sum(), (s30 + s31).sum())
    while t < count {
        sum[0] += a[t] * b0[t]; sum[1] += a[t] * b1[t]; sum[2] += a[t] * b2[t]; sum[3] += a[t] * b3[t]
        t += 1
    }
    return sum
}

/// a_i . b_j for every row pair: a is m x d, b is n x d → m x n, on the calling thread.
public func rowDotProducts(_ a: Matrix, _ b: Matrix) throws -> Matrix {
    guard a.columns == b.columns else {
        throw LinearAlgebraError.shapeMismatch(operation: "rowDotProducts", detail: "\(a.columns) vs \(b.columns) columns")
    }
    var out = Matrix(rows: a.rows, columns: b.rows)
    let d = a.columns, n = b.rows
    a.values.withUnsafeBufferPointer { pa in
        b.values.withUnsafeBufferPointer { pb in
            out.values.withUnsafeMutableBufferPointer { po in
                guard let xa = pa.baseAddress, let xb = pb.baseAddress, let o = po.baseAddress else { return }
                for i in 0..<a.rows {
                    for j in 0..<n { o[i * n + j] = dot(xa + i * d, xb + j * d, count: d) }
                }
            }
        }
    }
    return out
}

/// The Gram matrix a a^T (m x m) of the rows of a (m x d), on the calling thread; exactly symmetric.
public func gram(_ a: Matrix) -> Matrix {
    let m = a.rows, d = a.columns
    var out = Matrix(rows: m, columns: m)
    a.values.withUnsafeBufferPointer { pa in
        out.values.withUnsafeMutableBufferPointer { po in
            guard let x = pa.baseAddress, let o = po.baseAddress else { return }
            for i in 0..<m {
                for j in i..<m {
                    let value = dot(x + i * d, x + j * d, count: d)
                    o[i * m + j] = value
                    o[j * m + i] = value
                }
            }
        }
    }
    return out
}

/// |a_i|^2 of every row of a (m x d), on the calling thread (the diagonal of `gram(a)`, bit for bit).
public func squaredRowNorms(_ a: Matrix) -> [Double] {
    let d = a.columns
    return a.values.withUnsafeBufferPointer { pa -> [Double] in
        guard let x = pa.baseAddress else { return [Double](repeating: 0, count: a.rows) }
        return (0..<a.rows).map { i in dot(x + i * d, x + i * d, count: d) }
    }
}

/// e^x lane by lane for x <= 709 (larger x give +inf; Foundation's exp overflows at 709.78), within 2 ulp of exp:
/// x = k ln 2 + r with |r| <= ln 2 / 2 (Cody & Waite's reduction with fdlibm's two-part ln 2, k rounded by adding
/// 1.5 * 2^52), e^r by its degree-13 Taylor polynomial (truncation below 1e-17 relative) in Horner form, 2^k from
/// k's bits in the exponent field. x below -708.3964 (where e^x leaves the normal range) gives 0, NaN gives NaN.
/// Eight lanes at a time where the scalar exp of the C library runs one: the Gaussian process forms its kernel
/// (n^2 / 2 exponentials per evaluation) with it.
@inlinable @inline(__always)
public func exponential(_ x: SIMD8<Double>) -> SIMD8<Double> {
    typealias V = SIMD8<Double>
    let shifter = V(repeating: 0x1.8p52)
    let clamped = x.clamped(lowerBound: V(repeating: -708.3964), upperBound: V(repeating: 709.5))
    let t = (clamped * 1.4426950408889634) + shifter
    let k = t - shifter
    // fdlibm's ln 2 = ln2Hi + ln2Lo; ln2Hi has 32 trailing zero bits, so k ln2Hi is exact.
    let r = clamped.addingProduct(k, V(repeating: -6.93147180369123816490e-01)).addingProduct(k, V(repeating: -1.90821492927058770002e-10))
    // Horner from 1 / 13! down to 1 / 0!.
    var p = V(repeating: 1.6059043836821613e-10)
    p = V(repeating: 2.08767569878681e-09).addingProduct(p, r)
    p = V(repeating: 2.505210838544172e-08).addingProduct(p, r)
    p = V(repeating: 2.755731922398589e-07).addingProduct(p, r)
    p = V(repeating: 2.7557319223985893e-06).addingProduct(p, r)
    p = V(repeating: 2.48015873015873e-05).addingProduct(p, r)
    p = V(repeating: 0.0001984126984126984).addingProduct(p, r)
    p = V(repeating: 0.001388888888888889).addingProduct(p, r)
    p = V(repeating: 0.008333333333333333).addingProduct(p, r)
    p = V(repeating: 0.041666666666666664).addingProduct(p, r)
    p = V(repeating: 0.16666666666666666).addingProduct(p, r)
    p = V(repeating: 0.5).addingProduct(p, r)
    p = V(repeating: 1).addingProduct(p, r)
    p = V(repeating: 1).addingProduct(p, r)
    let scale = unsafeBitCast((unsafeBitCast(t, to: SIMD8<UInt64>.self) &+ 1023) &<< 52, to: V.self)
    var result = p * scale
    result.replace(with: 0, where: x .< -708.3964)
    result.replace(with: .infinity, where: x .> 709.08)
    result.replace(with: x, where: x .!= x)
    return result
}
