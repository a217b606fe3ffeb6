// In-place kernels for symmetric positive-definite systems, for loops that factor many matrices of one
// size (the Gaussian process's Laplace iterations, GPML Alg. 3.1 and 5.1). LAPACK is called through
// LAPACKE's column-major `_work` entry points on the row-major buffer: the row-major lower triangle is
// the column-major upper triangle of the same symmetric matrix, so no transposed copy is made, no NaN
// scan runs and nothing is allocated (LAPACKE_dpotrf on a row-major matrix transposes it in and out and
// scans it for NaN first; Cholesky.solve transposes the factor again on every call).
// Shapes: a is n x n row-major; only the triangle named by `triangle` (lower: column <= row; upper: column >=
// row) is read or written, the other strict triangle is left as it was. The row-major upper triangle is the
// column-major lower one, whose dpotrf OpenBLAS 0.3.21 runs ~1.4x faster at n ~ 500 on one thread (2.5 -> 1.7 ms
// on an Emerald Rapids Xeon, SkylakeX kernels) than the column-major upper one; the GP uses it.

import BLASThreads
import Dispatch
import COpenBLAS

/// Which triangle of a row-major symmetric (or triangular) matrix holds it.
public enum SymmetricTriangle: Sendable {
    /// Column <= row; a Cholesky factor there is L with A = L L^T.
    case lower
    /// Column >= row; a Cholesky factor there is U = L^T with A = U^T U.
    case upper

    /// LAPACK's uplo for the same memory read column-major (the transpose).
    var columnMajorName: Int8 { Int8(UInt8(ascii: self == .lower ? "U" : "L")) }
    var cblas: CBLAS_UPLO { self == .lower ? CblasLower : CblasUpper }
}

/// In place Cholesky factorization (dpotrf) of the `triangle` of `a` (n x n): L (lower) or U = L^T (upper);
/// the other strict triangle is untouched. Returns LAPACK's info: 0, or k > 0 when the leading minor of order
/// k is not positive definite (the triangle then holds a partial factor).
public func choleskyFactorInPlace(_ a: inout Matrix, triangle: SymmetricTriangle) throws -> Int {
    guard a.rows == a.columns else {
        throw LinearAlgebraError.shapeMismatch(operation: "choleskyFactorInPlace", detail: "\(a.rows) x \(a.columns) is not square")
    }
    let n = a.rows
    if n == 0 { return 0 }
    let info = a.values.withUnsafeMutableBufferPointer { p in
        LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, triangle.columnMajorName, Int32(n), p.baseAddress, Int32(n))
    }
    if info < 0 { throw LinearAlgebraError.lapackFailure(routine: "dpotrf", info: Int(info)) }
    return Int(info)
}

/// Solves A x = b in place (one right-hand side: two triangular dtrsv, as dpotrs), `factor` holding the factor
/// from `choleskyFactorInPlace` in its `triangle`.
public func choleskySolveInPlace(factor: Matrix, triangle: SymmetricTriangle, _ b: inout [Double]) throws {
    guard factor.rows == factor.columns, b.count == factor.rows else {
        throw LinearAlgebraError.shapeMismatch(operation: "choleskySolveInPlace", detail: "factor is \(factor.rows) x \(factor.columns), b has \(b.count)")
    }
    let n = factor.rows
    if n == 0 { return }
    // L y = b, then L^T x = y (lower; upper: U^T y = b, then U x = y): two dtrsv (BLAS-2). dpotrs with one
    // right-hand side goes through dtrsm in OpenBLAS, which packs the whole triangle for the single column (a
    // third of a breast-cancer GP fit).
    let (first, second) = triangle == .lower ? (CblasNoTrans, CblasTrans) : (CblasTrans, CblasNoTrans)
    factor.values.withUnsafeBufferPointer { pl in
        b.withUnsafeMutableBufferPointer { pb in
            cblas_dtrsv(CblasRowMajor, triangle.cblas, first, CblasNonUnit, Int32(n), pl.baseAddress, Int32(n), pb.baseAddress, 1)
            cblas_dtrsv(CblasRowMajor, triangle.cblas, second, CblasNonUnit, Int32(n), pl.baseAddress, Int32(n), pb.baseAddress, 1)
        }
    }
}

/// In place A^-1 from its factor (dpotri): the `triangle` of `a`, holding the factor from
/// `choleskyFactorInPlace`, becomes the same triangle of A^-1.
public func choleskyInverseInPlace(_ a: inout Matrix, triangle: SymmetricTriangle) throws {
    guard a.rows == a.columns else {
        throw LinearAlgebraError.shapeMismatch(operation: "choleskyInverseInPlace", detail: "\(a.rows) x \(a.columns) is not square")
    }
    let n = a.rows
    if n == 0 { return }
    let info = a.values.withUnsafeMutableBufferPointer { p in
        LAPACKE_dpotri_work(LAPACK_COL_MAJOR, triangle.columnMajorName, Int32(n), p.baseAddress, Int32(n))
    }
    if info > 0 { throw LinearAlgebraError.lapackFailure(routine: "dpotri (zero diagonal element \(info))", info: Int(info)) }
    if info < 0 { throw LinearAlgebraError.lapackFailure(routine: "dpotri", info: Int(info)) }
}

/// OpenBLAS's current thread count (1 inside `withSingleThreadedBLAS`).
public func blasThreadCount() -> Int { BLASThreads.count }

/// y = A x for a symmetric n x n A of which only the `triangle` is read (dsymv).
public func symmetricMultiply(_ a: Matrix, triangle: SymmetricTriangle, _ x: [Double], into y: inout [Double]) throws {
    guard a.rows == a.columns, x.count == a.rows, y.count == a.rows else {
        throw LinearAlgebraError.shapeMismatch(operation: "symmetricMultiply", detail: "A is \(a.rows) x \(a.columns), x has \(x.count), y has \(y.count)")
    }
    let n = a.rows
    if n == 0 { return }
    a.values.withUnsafeBufferPointer { pa in
        x.withUnsafeBufferPointer { px in
            y.withUnsafeMutableBufferPointer { py in
                cblas_dsymv(CblasRowMajor, triangle.cblas, Int32(n), 1, pa.baseAddress, Int32(n), px.baseAddress, 1, 0, py.baseAddress, 1)
            }
        }
    }
}

extension Cholesky {
    /// Wraps a lower factor computed elsewhere (e.g. by `choleskyFactorInPlace(_:triangle: .lower)`): the lower triangle of
    /// `factor` is kept, its strict upper triangle set to zero. The diagonal must be positive and finite.
    public init(lowerFactor factor: Matrix) throws {
        guard factor.rows == factor.columns else {
            throw LinearAlgebraError.shapeMismatch(operation: "Cholesky(lowerFactor:)", detail: "\(factor.rows) x \(factor.columns) is not square")
        }
        let n = factor.rows
        var l = factor
        for r in 0..<n {
            let diagonal = l.values[r * n + r]
            guard diagonal > 0, diagonal.isFinite else { throw LinearAlgebraError.nonFinite(operation: "Cholesky(lowerFactor:) diagonal", row: r, column: r) }
            for c in (r + 1)..<n { l.values[r * n + c] = 0 }
            for c in 0..<r where !l.values[r * n + c].isFinite { throw LinearAlgebraError.nonFinite(operation: "Cholesky(lowerFactor:)", row: r, column: c) }
        }
        self.init(validatedLower: l)
    }
}

extension Cholesky {
    /// Wraps an upper factor U = L^T computed elsewhere (`choleskyFactorInPlace(_:triangle: .upper)`): L is the
    /// transpose of the upper triangle of `factor`. The diagonal must be positive and finite.
    public init(upperFactor factor: Matrix) throws {
        guard factor.rows == factor.columns else {
            throw LinearAlgebraError.shapeMismatch(operation: "Cholesky(upperFactor:)", detail: "\(factor.rows) x \(factor.columns) is not square")
        }
        let n = factor.rows
        var lower = Matrix(rows: n, columns: n)
        for r in 0..<n { for c in r..<n { lower.values[c * n + r] = factor.values[r * n + c] } }
        try self.init(lowerFactor: lower)
    }
}

/// `choleskyFactorInPlace(a, triangle: .upper)` by blocks on two cores: a right-looking blocked Cholesky of the
/// row-major upper triangle (column-major lower, A = L L^T) with blocks of `blockSize` columns and a look-ahead of
/// one block (as LAPACK's and PLASMA's parallel factorizations). Once block column k is factored (its diagonal block
/// by dpotrf, the panel P below it by dtrsm), the trailing triangle's update A22 -= P P^T (dsyrk + dgemm) is split
/// at column c: one half updates columns [0, c), which hold the next block column, then factors that block column
/// (dpotrf of its diagonal block, dtrsm of its panel); the other half updates columns [c, m) meanwhile. c balances
/// the two: kb (m^2 - (m - c)^2) + the next block's dpotrf and dtrsm = kb (m - c)^2, c at least the next block's
/// width. One two-way region per block (the first panel's solve split by rows is one more), where the split without
/// look-ahead needed two and left each dpotrf to one core: DispatchQueue.concurrentPerform costs ~15 µs per region
/// on the 2-core Emerald Rapids guest. There, n = 497 (a breast-cancer fold's B), best of 100 in-process, three runs:
/// 0.94, 0.89, 1.05 ms with look-ahead and 48-column blocks against 1.05, 0.99, 1.26 ms for the split without it at
/// 64 (look-ahead at 32, 64, 80: 0.95-1.03, 0.92-1.20, 0.97-1.34 ms). The halves run side by side with OpenBLAS on
/// one thread each; OpenBLAS's own threaded dpotrf gains nothing at n ~ 500 on two cores. The same calls run whatever the core count (`parallel`
/// false runs the halves one after the other; they touch disjoint columns), so the factor does not depend on it; it
/// differs from dpotrf's by rounding only. Returns LAPACK's info like `choleskyFactorInPlace` (the order of the
/// failing minor).
public func choleskyFactorUpperByBlocks(_ a: inout Matrix, blockSize: Int = 48, parallel: Bool) throws -> Int {
    guard a.rows == a.columns else {
        throw LinearAlgebraError.shapeMismatch(operation: "choleskyFactorUpperByBlocks", detail: "\(a.rows) x \(a.columns) is not square")
    }
    precondition(blockSize >= 1, "choleskyFactorUpperByBlocks: block size must be positive")
    let n = a.rows
    if n == 0 { return 0 }
    let ld = Int32(n)
    let lower = Int8(UInt8(ascii: "L"))
    return try a.values.withUnsafeMutableBufferPointer { buffer -> Int in
        guard let base = buffer.baseAddress else { return 0 }
        // Column-major lower: entry (i, j), i >= j, at base + i + j n.
        func at(_ i: Int, _ j: Int) -> UnsafeMutablePointer<Double> { base + i + j * n }
        return try BLASThreads.single { () throws -> Int in
            // Block column k (kb wide): its panel's rows [first, first + rows) solved against its factored diagonal block.
            func solve(_ k: Int, _ kb: Int, rows first: Int, _ rows: Int) {
                if rows > 0 {
                    cblas_dtrsm(CblasColMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, Int32(rows), Int32(kb), 1,
                                at(k, k), ld, at(k + kb + first, k), ld)
                }
            }
            var kb = min(blockSize, n)
            var info = LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, lower, Int32(kb), at(0, 0), ld)
            if info < 0 { throw LinearAlgebraError.lapackFailure(routine: "dpotrf", info: Int(info)) }
            if info > 0 { return Int(info) }
            let first = n - kb
            runHalves(parallel: parallel) { part in solve(0, kb, rows: part == 0 ? 0 : first / 2, part == 0 ? first / 2 : first - first / 2) }
            var k = 0
            while k + kb < n {
                let m = n - k - kb, next = min(blockSize, m)
                let panel = at(k + kb, k), trailing = at(k + kb, k + kb)
                // Work in multiply-adds: the update's columns [0, c) cost kb (m^2 - (m - c)^2) / 2, the rest kb (m - c)^2 / 2;
                // the next block's dpotrf next^3 / 6 and dtrsm (m - next) next^2 / 2.
                let extra = (Double(next * next * next) / 3 + Double((m - next) * next * next)) / Double(kb)
                let rest = ((Double(m * m) + extra) / 2).squareRoot()
                let c = min(m, max(next, m - Int(rest.rounded())))
                var nextInfo: Int32 = 0
                withUnsafeMutablePointer(to: &nextInfo) { nextInfo in
                    runHalves(parallel: parallel) { part in
                        if part == 0 {
                            cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, Int32(c), Int32(kb), -1, panel, ld, 1, trailing, ld)
                            if m > c {
                                cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, Int32(m - c), Int32(c), Int32(kb), -1,
                                            panel + c, ld, panel, ld, 1, trailing + c, ld)
                            }
                            // Look-ahead: block column k + kb, now fully updated, factored.
                            let found = LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, lower, Int32(next), trailing, ld)
                            nextInfo.pointee = found
                            if found == 0 { solve(k + kb, next, rows: 0, m - next) }
                        } else if m > c {
                            cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, Int32(m - c), Int32(kb), -1, panel + c, ld, 1,
                                        trailing + c + c * n, ld)
                        }
                    }
                }
                info = nextInfo
                if info < 0 { throw LinearAlgebraError.lapackFailure(routine: "dpotrf", info: Int(info)) }
                if info > 0 { return k + kb + Int(info) }
                k += kb
                kb = next
            }
            return 0
        }
    }
}

/// In place A^-1 from the factor of `choleskyFactorUpperByBlocks` or `choleskyFactorInPlace(_:triangle: .upper)`
/// (the row-major upper triangle is the column-major lower L, A = L L^T): the same triangle becomes the same
/// triangle of A^-1 = L^-T L^-1, as dpotri, by recursion on halves (Elmroth, Gustavson, Jonsson & Kågström 2004,
/// "Recursive blocked algorithms and hybrid data structures for dense matrix library software", SIAM Review
/// 46(1): the recursive triangular inverse and L^T L product; LAPACK's dtrtri + dlauum compute the same).
/// L^-1: [L11 0; L21 L22]^-1 = [X11 0; -X22 L21 X11  X22], X11 and X22 side by side, then the two products split
/// in halves. L^-T L^-1 = X^T X: [X11^T X11 + X21^T X21, (X22^T X21)^T; X22^T X21, X22^T X22], its first half
/// (X11^T X11 by recursion, + X21^T X21 by dsyrk) beside the second (X22^T X21 into scratch by dtrmm, X22^T X22
/// by recursion). Below `baseOrder` rows LAPACK's dtrtri and dlauum finish. Only the top level runs on two
/// threads (`parallel`, OpenBLAS on one thread each), the halves otherwise one after the other, the same calls
/// either way, so the result does not depend on it; it differs from dpotri's by rounding only.
/// OpenBLAS 0.3.21's own dpotri spends most of its time in dtrtri's unblocked level-2 part at n ~ 500 (3.7 ms
/// on one thread against 1.1 ms here on two, 1.7 ms on one, n = 498, Emerald Rapids Xeon, C prototype, best of 100).
/// Throws when L has a zero on its diagonal (dtrtri's info).
public func choleskyInverseUpperByBlocks(_ a: inout Matrix, baseOrder: Int = 64, parallel: Bool) throws {
    guard a.rows == a.columns else {
        throw LinearAlgebraError.shapeMismatch(operation: "choleskyInverseUpperByBlocks", detail: "\(a.rows) x \(a.columns) is not square")
    }
    precondition(baseOrder >= 1, "choleskyInverseUpperByBlocks: base order must be positive")
    let n = a.rows
    if n == 0 { return }
    let ld = Int32(n)
    let lower = Int8(UInt8(ascii: "L")), nonUnit = Int8(UInt8(ascii: "N"))
    // The first half's order: half of n, rounded to a multiple of 8 (whole vectors in every call).
    func firstHalf(_ m: Int) -> Int { let h = (m / 2 + 4) / 8 * 8; return h >= 1 && h < m ? h : m / 2 }
    try a.values.withUnsafeMutableBufferPointer { buffer in
        guard let base = buffer.baseAddress else { return }
        try BLASThreads.single {
            // Column-major lower: entry (i, j), i >= j, of the square block at `p` at p + i + j n. Returns dtrtri's info
            // (the order of the first zero on the diagonal) or 0.
            func inverse(_ p: UnsafeMutablePointer<Double>, _ m: Int) -> Int {
                if m <= baseOrder { return Int(LAPACKE_dtrtri_work(LAPACK_COL_MAJOR, lower, nonUnit, Int32(m), p, ld)) }
                let m1 = firstHalf(m), m2 = m - m1
                let first = inverse(p, m1)
                if first != 0 { return first }
                let second = inverse(p + m1 + m1 * n, m2)
                if second != 0 { return m1 + second }
                products(p, m1, m2, rows: 0..<m2, columns: 0..<m1)
                return 0
            }
            // L21 <- -X22 (L21 X11) on the given rows (first product) and columns (second), with X11 and X22 known.
            func products(_ p: UnsafeMutablePointer<Double>, _ m1: Int, _ m2: Int, rows: Range<Int>?, columns: Range<Int>?) {
                let l21 = p + m1, x22 = p + m1 + m1 * n
                if let rows, !rows.isEmpty {
                    cblas_dtrmm(CblasColMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, Int32(rows.count), Int32(m1), 1, p, ld,
                                l21 + rows.lowerBound, ld)
                }
                if let columns, !columns.isEmpty {
                    cblas_dtrmm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, Int32(m2), Int32(columns.count), -1, x22, ld,
                                l21 + columns.lowerBound * n, ld)
                }
            }
            func product(_ p: UnsafeMutablePointer<Double>, _ m: Int) {
                if m <= baseOrder { _ = LAPACKE_dlauum_work(LAPACK_COL_MAJOR, lower, Int32(m), p, ld); return }
                let m1 = firstHalf(m), m2 = m - m1
                let x21 = p + m1, x22 = p + m1 + m1 * n
                product(p, m1)
                cblas_dsyrk(CblasColMajor, CblasLower, CblasTrans, Int32(m1), Int32(m2), 1, x21, ld, 1, p, ld)
                cblas_dtrmm(CblasColMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, Int32(m2), Int32(m1), 1, x22, ld, x21, ld)
                product(x22, m2)
            }
            func fail(_ info: Int) -> LinearAlgebraError { .lapackFailure(routine: "dtrtri (zero diagonal element \(info))", info: info) }
            if n <= baseOrder {
                let info = inverse(base, n)
                if info != 0 { throw fail(info) }
                product(base, n)
                return
            }
            let n1 = firstHalf(n), n2 = n - n1
            let x21 = base + n1, x22 = base + n1 + n1 * n
            // X = L^-1.
            var infos = (0, 0)
            withUnsafeMutablePointer(to: &infos) { infos in
                runHalves(parallel: parallel) { part in if part == 0 { infos.pointee.0 = inverse(base, n1) } else { infos.pointee.1 = inverse(x22, n2) } }
            }
            if infos.0 != 0 { throw fail(infos.0) }
            if infos.1 != 0 { throw fail(n1 + infos.1) }
            runHalves(parallel: parallel) { part in products(base, n1, n2, rows: part == 0 ? 0..<(n2 / 2) : (n2 / 2)..<n2, columns: nil) }
            runHalves(parallel: parallel) { part in products(base, n1, n2, rows: nil, columns: part == 0 ? 0..<(n1 / 2) : (n1 / 2)..<n1) }
            // X^T X; X22^T X21 goes to scratch while the first half still reads X21.
            let scratch = UnsafeMutablePointer<Double>.allocate(capacity: n1 * n2)
            defer { scratch.deallocate() }
            runHalves(parallel: parallel) { part in
                if part == 0 {
                    product(base, n1)
                    cblas_dsyrk(CblasColMajor, CblasLower, CblasTrans, Int32(n1), Int32(n2), 1, x21, ld, 1, base, ld)
                } else {
                    for j in 0..<n1 { (scratch + j * n2).update(from: x21 + j * n, count: n2) }
                    cblas_dtrmm(CblasColMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, Int32(n2), Int32(n1), 1, x22, ld, scratch, Int32(n2))
                    product(x22, n2)
                }
            }
            for j in 0..<n1 { (x21 + j * n).update(from: scratch + j * n2, count: n2) }
        }
    }
}

/// Runs `body(0)` and `body(1)`: side by side when `parallel` (DispatchQueue.concurrentPerform), else one after the other.
public func runHalves(parallel: Bool, _ body: (Int) -> Void) {
    if parallel { DispatchQueue.concurrentPerform(iterations: 2, execute: body) } else { body(0); body(1) }
}
