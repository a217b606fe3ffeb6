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
