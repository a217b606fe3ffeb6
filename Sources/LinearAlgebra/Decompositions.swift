// LAPACK decompositions (LAPACKE, row-major): Cholesky (dpotrf/dpotrs, dtrtrs), symmetric
// eigendecomposition (dsyevd) and thin SVD (dgesdd). Each returns an immutable value.

import COpenBLAS
import Foundation

/// A = L L^T for a symmetric positive-definite n x n matrix A (only its lower triangle is read).
public struct Cholesky: Sendable {
    /// The lower-triangular factor L (upper triangle zero).
    public let lower: Matrix

    public init(_ a: Matrix) throws {
        guard a.rows == a.columns else {
            throw LinearAlgebraError.shapeMismatch(operation: "Cholesky", detail: "\(a.rows) x \(a.columns) is not square")
        }
        if let bad = a.firstNonFinite() { throw LinearAlgebraError.nonFinite(operation: "Cholesky", row: bad.row, column: bad.column) }
        var l = a
        let n = a.rows
        if n > 0 {
            let info = l.values.withUnsafeMutableBufferPointer { p in
                LAPACKE_dpotrf(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "L")), Int32(n), p.baseAddress, Int32(n))
            }
            if info > 0 { throw LinearAlgebraError.notPositiveDefinite(operation: "Cholesky (dpotrf)", order: Int(info), size: n) }
            if info < 0 { throw LinearAlgebraError.lapackFailure(routine: "dpotrf", info: Int(info)) }
        }
        for r in 0..<n { for c in (r + 1)..<Swift.max(n, r + 1) { l.values[r * n + c] = 0 } }
        lower = l
    }

    /// A factor already known to be lower triangular with a positive diagonal (see `init(lowerFactor:)`).
    init(validatedLower lower: Matrix) { self.lower = lower }

    public var size: Int { lower.rows }

    /// log det A = 2 sum log L_ii.
    public var logDeterminant: Double { (0..<size).reduce(0) { $0 + 2 * log(lower[$1, $1]) } }

    /// Solves A X = B (dpotrs); B is n x m.
    public func solve(_ b: Matrix) throws -> Matrix {
        guard b.rows == size else {
            throw LinearAlgebraError.shapeMismatch(operation: "Cholesky.solve", detail: "A is \(size) x \(size), B has \(b.rows) rows")
        }
        var x = b
        if size == 0 || b.columns == 0 { return x }
        let info = lower.values.withUnsafeBufferPointer { pl in
            x.values.withUnsafeMutableBufferPointer { px in
                LAPACKE_dpotrs(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "L")), Int32(size), Int32(b.columns),
                               pl.baseAddress, Int32(size), px.baseAddress, Int32(b.columns))
            }
        }
        if info != 0 { throw LinearAlgebraError.lapackFailure(routine: "dpotrs", info: Int(info)) }
        return x
    }

    /// Solves A x = b for a vector.
    public func solve(_ b: [Double]) throws -> [Double] {
        try solve(Matrix(rows: b.count, columns: 1, values: b)).values
    }

    /// Solves L X = B (transpose: L^T X = B) by triangular substitution (dtrtrs).
    public func solveTriangular(_ b: Matrix, transpose: Bool = false) throws -> Matrix {
        try LinearAlgebra.solveTriangular(lower, b, lower: true, transpose: transpose)
    }

    public func solveTriangular(_ b: [Double], transpose: Bool = false) throws -> [Double] {
        try solveTriangular(Matrix(rows: b.count, columns: 1, values: b), transpose: transpose).values
    }
}

/// Solves op(T) X = B for a triangular n x n matrix T (dtrtrs). `lower` says which triangle holds T.
public func solveTriangular(_ t: Matrix, _ b: Matrix, lower: Bool, transpose: Bool = false) throws -> Matrix {
    guard t.rows == t.columns, b.rows == t.rows else {
        throw LinearAlgebraError.shapeMismatch(operation: "solveTriangular", detail: "T is \(t.rows) x \(t.columns), B has \(b.rows) rows")
    }
    var x = b
    if t.rows == 0 || b.columns == 0 { return x }
    let info = t.values.withUnsafeBufferPointer { pt in
        x.values.withUnsafeMutableBufferPointer { px in
            LAPACKE_dtrtrs(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: lower ? "L" : "U")), Int8(UInt8(ascii: transpose ? "T" : "N")),
                           Int8(UInt8(ascii: "N")), Int32(t.rows), Int32(b.columns), pt.baseAddress, Int32(t.rows),
                           px.baseAddress, Int32(b.columns))
        }
    }
    if info > 0 { throw LinearAlgebraError.lapackFailure(routine: "dtrtrs (zero diagonal element \(info))", info: Int(info)) }
    if info < 0 { throw LinearAlgebraError.lapackFailure(routine: "dtrtrs", info: Int(info)) }
    return x
}

/// A = V diag(values) V^T for a symmetric n x n matrix (dsyevd; lower triangle read).
/// Eigenvalues ascending; eigenvector i is column i of `vectors`.
public struct SymmetricEigendecomposition: Sendable {
    public let values: [Double]
    public let vectors: Matrix

    public init(_ a: Matrix) throws {
        guard a.rows == a.columns else {
            throw LinearAlgebraError.shapeMismatch(operation: "SymmetricEigendecomposition", detail: "\(a.rows) x \(a.columns) is not square")
        }
        if let bad = a.firstNonFinite() { throw LinearAlgebraError.nonFinite(operation: "SymmetricEigendecomposition", row: bad.row, column: bad.column) }
        let n = a.rows
        var v = a
        var w = [Double](repeating: 0, count: n)
        if n > 0 {
            let info = v.values.withUnsafeMutableBufferPointer { pv in
                w.withUnsafeMutableBufferPointer { pw in
                    LAPACKE_dsyevd(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "V")), Int8(UInt8(ascii: "L")), Int32(n),
                                   pv.baseAddress, Int32(n), pw.baseAddress)
                }
            }
            if info != 0 { throw LinearAlgebraError.lapackFailure(routine: "dsyevd", info: Int(info)) }
        }
        values = w
        vectors = v
    }
}

/// Thin SVD A = U diag(singularValues) Vt of an m x n matrix (dgesdd), r = min(m, n):
/// U is m x r, singularValues descending (r), Vt is r x n.
public struct SingularValueDecomposition: Sendable {
    public let u: Matrix
    public let singularValues: [Double]
    public let vt: Matrix

    public init(_ a: Matrix) throws {
        if let bad = a.firstNonFinite() { throw LinearAlgebraError.nonFinite(operation: "SingularValueDecomposition", row: bad.row, column: bad.column) }
        let m = a.rows, n = a.columns, r = Swift.min(m, n)
        var work = a
        var s = [Double](repeating: 0, count: r)
        var u = Matrix(rows: m, columns: r)
        var vt = Matrix(rows: r, columns: n)
        if r > 0 {
            let info = work.values.withUnsafeMutableBufferPointer { pa in
                s.withUnsafeMutableBufferPointer { ps in
                    u.values.withUnsafeMutableBufferPointer { pu in
                        vt.values.withUnsafeMutableBufferPointer { pv in
                            LAPACKE_dgesdd(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "S")), Int32(m), Int32(n), pa.baseAddress, Int32(n),
                                           ps.baseAddress, pu.baseAddress, Int32(r), pv.baseAddress, Int32(n))
                        }
                    }
                }
            }
            if info != 0 { throw LinearAlgebraError.lapackFailure(routine: "dgesdd", info: Int(info)) }
        }
        self.u = u
        singularValues = s
        self.vt = vt
    }
}
