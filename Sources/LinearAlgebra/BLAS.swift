// BLAS wrappers over row-major `Matrix` (OpenBLAS CBLAS), plus the small matrix helpers the heads need.
// Shapes: A is m x k (or k x m when transposed), B is k x n (or n x k), C is m x n.

import BLASThreads
import COpenBLAS

extension Matrix {
    public static func identity(_ size: Int) -> Matrix {
        var m = Matrix(rows: size, columns: size)
        for i in 0..<size { m[i, i] = 1 }
        return m
    }

    public func transposed() -> Matrix {
        var t = Matrix(rows: columns, columns: rows)
        for r in 0..<rows { for c in 0..<columns { t.values[c * rows + r] = values[r * columns + c] } }
        return t
    }

    /// Column `index` as an array.
    public func column(_ index: Int) -> [Double] { (0..<rows).map { values[$0 * columns + index] } }

    /// The columns at `indices`, in that order.
    public func selectingColumns(_ indices: [Int]) -> Matrix {
        var out = Matrix(rows: rows, columns: indices.count)
        for r in 0..<rows { for (j, c) in indices.enumerated() { out.values[r * indices.count + j] = values[r * columns + c] } }
        return out
    }

    /// The first non-finite entry (row, column), or nil.
    public func firstNonFinite() -> (row: Int, column: Int)? {
        for (i, v) in values.enumerated() where !v.isFinite { return (i / Swift.max(columns, 1), i % Swift.max(columns, 1)) }
        return nil
    }
}

/// C = alpha * op(A) * op(B) + beta * C  (cblas_dgemm). `C` must be m x n when beta != 0.
public func gemm(_ a: Matrix, transposeA: Bool = false, _ b: Matrix, transposeB: Bool = false,
                 alpha: Double = 1, beta: Double = 0, into c: inout Matrix) throws {
    let m = transposeA ? a.columns : a.rows
    let k = transposeA ? a.rows : a.columns
    let kb = transposeB ? b.columns : b.rows
    let n = transposeB ? b.rows : b.columns
    guard k == kb, c.rows == m, c.columns == n else {
        throw LinearAlgebraError.shapeMismatch(operation: "gemm",
            detail: "op(A) is \(m) x \(k), op(B) is \(kb) x \(n), C is \(c.rows) x \(c.columns)")
    }
    if m == 0 || n == 0 { return }
    if k == 0 { for i in 0..<c.values.count { c.values[i] *= beta }; return }
    a.values.withUnsafeBufferPointer { pa in
        b.values.withUnsafeBufferPointer { pb in
            c.values.withUnsafeMutableBufferPointer { pc in
                cblas_dgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                            Int32(m), Int32(n), Int32(k), alpha, pa.baseAddress, Int32(a.columns),
                            pb.baseAddress, Int32(b.columns), beta, pc.baseAddress, Int32(n))
            }
        }
    }
}

/// op(A) * op(B) as a new matrix.
public func multiply(_ a: Matrix, transposeA: Bool = false, _ b: Matrix, transposeB: Bool = false) throws -> Matrix {
    var c = Matrix(rows: transposeA ? a.columns : a.rows, columns: transposeB ? b.rows : b.columns)
    try gemm(a, transposeA: transposeA, b, transposeB: transposeB, into: &c)
    return c
}

/// y = alpha * op(A) * x + beta * y  (cblas_dgemv).
public func gemv(_ a: Matrix, transpose: Bool = false, _ x: [Double], alpha: Double = 1, beta: Double = 0,
                 into y: inout [Double]) throws {
    let outCount = transpose ? a.columns : a.rows
    let inCount = transpose ? a.rows : a.columns
    guard x.count == inCount, y.count == outCount else {
        throw LinearAlgebraError.shapeMismatch(operation: "gemv",
            detail: "op(A) is \(outCount) x \(inCount), x has \(x.count), y has \(y.count)")
    }
    if outCount == 0 { return }
    if inCount == 0 { for i in 0..<y.count { y[i] *= beta }; return }
    a.values.withUnsafeBufferPointer { pa in
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                cblas_dgemv(CblasRowMajor, transpose ? CblasTrans : CblasNoTrans, Int32(a.rows), Int32(a.columns),
                            alpha, pa.baseAddress, Int32(a.columns), px.baseAddress, 1, beta, py.baseAddress, 1)
            }
        }
    }
}

/// op(A) * x as a new vector.
public func multiply(_ a: Matrix, transpose: Bool = false, _ x: [Double]) throws -> [Double] {
    var y = [Double](repeating: 0, count: transpose ? a.columns : a.rows)
    try gemv(a, transpose: transpose, x, into: &y)
    return y
}

/// Squared Euclidean distances between the rows of A (m x d) and B (n x d): m x n, via
/// |a|^2 + |b|^2 - 2 a.b (one dgemm), clamped at zero against rounding.
public func squaredDistances(_ a: Matrix, _ b: Matrix) throws -> Matrix {
    guard a.columns == b.columns else {
        throw LinearAlgebraError.shapeMismatch(operation: "squaredDistances", detail: "\(a.columns) vs \(b.columns) columns")
    }
    var d = Matrix(rows: a.rows, columns: b.rows)
    try gemm(a, b, transposeB: true, alpha: -2, into: &d)
    let na = (0..<a.rows).map { r in a.row(r).reduce(0) { $0 + $1 * $1 } }
    let nb = (0..<b.rows).map { r in b.row(r).reduce(0) { $0 + $1 * $1 } }
    for i in 0..<a.rows { for j in 0..<b.rows { d.values[i * b.rows + j] = Swift.max(0, d.values[i * b.rows + j] + na[i] + nb[j]) } }
    return d
}

/// Runs `body` with OpenBLAS on one thread (a scope of BLASThreads, which restores the count after the last
/// one): for callers that already spread independent work (cross-validation folds) over the cores, where
/// OpenBLAS's own threads would oversubscribe them and spin in sched_yield around every small LAPACK call
/// (a GP fold on 54 rows spent two thirds of its time there).
public func withSingleThreadedBLAS<Result>(_ body: () throws -> Result) rethrows -> Result {
    try BLASThreads.single(body)
}
