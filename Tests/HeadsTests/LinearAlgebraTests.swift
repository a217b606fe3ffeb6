// LAPACK/BLAS wrappers against their naive twins and reconstruction identities.

import XCTest
import LinearAlgebra
import TestSupport

final class LinearAlgebraTests: XCTestCase {
    func randomMatrix(_ rows: Int, _ columns: Int, seed: UInt64) -> Matrix {
        var rng = SplitMix64(seed: seed)
        return Matrix(rows: rows, columns: columns, values: (0..<(rows * columns)).map { _ in Double(rng.next() >> 11) * 0x1p-53 * 2 - 1 })
    }

    /// Naive twin of gemm: C[i, j] = sum_k op(A)[i, k] op(B)[k, j].
    func naiveProduct(_ a: Matrix, _ ta: Bool, _ b: Matrix, _ tb: Bool) -> Matrix {
        let A = ta ? a.transposed() : a, B = tb ? b.transposed() : b
        var c = Matrix(rows: A.rows, columns: B.columns)
        for i in 0..<A.rows { for j in 0..<B.columns { var s = 0.0; for k in 0..<A.columns { s += A[i, k] * B[k, j] }; c[i, j] = s } }
        return c
    }

    func symmetricPositiveDefinite(_ n: Int, seed: UInt64) throws -> Matrix {
        let g = randomMatrix(n, n, seed: seed)
        var a = try multiply(g, g, transposeB: true)
        for i in 0..<n { a[i, i] += Double(n) }
        return a
    }

    func testGemmMatchesNaiveTwinForAllTranspositions() throws {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = ta ? randomMatrix(7, 5, seed: 1) : randomMatrix(5, 7, seed: 1)
            let b = tb ? randomMatrix(3, 7, seed: 2) : randomMatrix(7, 3, seed: 2)
            let c = try multiply(a, transposeA: ta, b, transposeB: tb)
            let check = allClose(c.values, naiveProduct(a, ta, b, tb).values, relativeTolerance: 1e-12, absoluteTolerance: 1e-12)
            XCTAssert(check.ok, "transposeA \(ta) transposeB \(tb): \(check.message)")
        }
        XCTAssertThrowsError(try multiply(randomMatrix(2, 3, seed: 1), randomMatrix(2, 3, seed: 2))) { error in
            XCTAssert("\(error.localizedDescription)".contains("gemm"), "\(error.localizedDescription)")
        }
    }

    func testGemvAndSquaredDistances() throws {
        let a = randomMatrix(4, 6, seed: 3), x = (0..<6).map { Double($0) - 2.5 }
        let y = try multiply(a, x)
        XCTAssert(allClose(y, naiveProduct(a, false, Matrix(rows: 6, columns: 1, values: x), false).values, relativeTolerance: 1e-12).ok)
        let yt = try multiply(a, transpose: true, [1, 2, 3, 4])
        XCTAssert(allClose(yt, naiveProduct(a, true, Matrix(rows: 4, columns: 1, values: [1, 2, 3, 4]), false).values, relativeTolerance: 1e-12).ok)
        let b = randomMatrix(3, 6, seed: 4)
        let d = try squaredDistances(a, b)
        for i in 0..<4 { for j in 0..<3 {
            let naive = (0..<6).reduce(0.0) { $0 + (a[i, $1] - b[j, $1]) * (a[i, $1] - b[j, $1]) }
            XCTAssertEqual(d[i, j], naive, accuracy: 1e-12)
        } }
    }

    func testCholeskyFactorSolvesAndLogDeterminant() throws {
        let a = try symmetricPositiveDefinite(6, seed: 5)
        let chol = try Cholesky(a)
        let product = try multiply(chol.lower, chol.lower, transposeB: true)
        XCTAssert(allClose(product.values, a.values, relativeTolerance: 1e-12, absoluteTolerance: 1e-12).ok)
        let b = randomMatrix(6, 2, seed: 6)
        let x = try chol.solve(b)
        XCTAssert(allClose(try multiply(a, x).values, b.values, relativeTolerance: 1e-10, absoluteTolerance: 1e-12).ok)
        // L z = b then L^T x = z is the same solve.
        let z = try chol.solveTriangular(b.column(0))
        let x0 = try chol.solveTriangular(z, transpose: true)
        XCTAssert(allClose(x0, x.column(0), relativeTolerance: 1e-10).ok)
        let eigen = try SymmetricEigendecomposition(a)
        XCTAssertEqual(chol.logDeterminant, eigen.values.reduce(0) { $0 + log($1) }, accuracy: 1e-10)
    }

    /// The in-place kernels (one triangle only, LAPACK column-major on the row-major buffer) against Cholesky,
    /// its solve, an explicit inverse and a full gemv, on the lower and on the upper triangle; the other strict
    /// triangle must stay as it was.
    func testInPlaceSymmetricKernelsMatchTheirTwins() throws {
        let n = 9
        let a = try symmetricPositiveDefinite(n, seed: 11)
        let reference = try Cholesky(a)
        let b = randomMatrix(n, 1, seed: 12).values
        let inverse = try reference.solve(Matrix.identity(n))
        for triangle in [SymmetricTriangle.lower, .upper] {
            // (i, j) is in the stored triangle; the other strict triangle must be neither read nor written.
            func stored(_ i: Int, _ j: Int) -> Bool { triangle == .lower ? j <= i : j >= i }
            var work = a
            for i in 0..<n { for j in 0..<n where !stored(i, j) { work[i, j] = -7 } }
            XCTAssertEqual(try choleskyFactorInPlace(&work, triangle: triangle), 0)
            for i in 0..<n { for j in 0..<n where !stored(i, j) { XCTAssertEqual(work[i, j], -7) } }
            let wrapped = triangle == .lower ? try Cholesky(lowerFactor: work) : try Cholesky(upperFactor: work)
            XCTAssert(allClose(wrapped.lower.values, reference.lower.values, relativeTolerance: 1e-12, absoluteTolerance: 1e-13).ok, "\(triangle)")
            var x = b
            try choleskySolveInPlace(factor: work, triangle: triangle, &x)
            XCTAssert(allClose(x, try reference.solve(b), relativeTolerance: 1e-10, absoluteTolerance: 1e-13).ok, "\(triangle)")
            try choleskyInverseInPlace(&work, triangle: triangle)
            for i in 0..<n { for j in 0..<n where stored(i, j) { XCTAssertEqual(work[i, j], inverse[i, j], accuracy: 1e-12 * max(1, abs(inverse[i, j]))) } }
            for i in 0..<n { for j in 0..<n where !stored(i, j) { XCTAssertEqual(work[i, j], -7) } }
            var y = [Double](repeating: 0, count: n)
            var oneTriangle = a
            for i in 0..<n { for j in 0..<n where !stored(i, j) { oneTriangle[i, j] = .nan } }
            try symmetricMultiply(oneTriangle, triangle: triangle, b, into: &y)
            XCTAssert(allClose(y, try multiply(a, b), relativeTolerance: 1e-12, absoluteTolerance: 1e-12).ok, "\(triangle)")
            // Not positive definite: LAPACK's info names the failing minor.
            var indefinite = Matrix(rows: 3, columns: 3, values: [4, 0, 0, 0, 1, 2, 0, 2, 1])
            XCTAssertEqual(try choleskyFactorInPlace(&indefinite, triangle: triangle), 3)
            XCTAssertThrowsError(try symmetricMultiply(a, triangle: triangle, [1, 2], into: &y))
        }
        XCTAssertThrowsError(try Cholesky(lowerFactor: Matrix(rows: 2, columns: 2, values: [1, 0, 3, 0])))
        XCTAssertThrowsError(try Cholesky(upperFactor: Matrix(rows: 2, columns: 2, values: [1, 3, 0, 0])))
    }

    /// dot4 (four dots sharing the loads of a) against dot, lane by lane, bit for bit, at lengths covering every
    /// tail (16-blocks, an 8-block, scalars); the SVM builds its Gram matrix with it and relies on that equality.
    func testDot4EqualsDotBitForBit() {
        for count in [0, 1, 7, 8, 9, 15, 16, 17, 24, 31, 64, 100] {
            let m = randomMatrix(5, max(count, 1), seed: UInt64(40 + count))
            m.values.withUnsafeBufferPointer { p in
                let x = p.baseAddress!, d = max(count, 1)
                let four = dot4(x, x + d, x + 2 * d, x + 3 * d, x + 4 * d, count: count)
                for lane in 0..<4 {
                    XCTAssertEqual(four[lane].bitPattern, dot(x, x + (lane + 1) * d, count: count).bitPattern, "count \(count) lane \(lane)")
                }
            }
        }
    }

    /// The upper triangle (diagonal included) of `work` close to `reference`'s, and its strict lower triangle still
    /// holding `value` everywhere (the blocked routines must not touch it).
    func assertUpperTriangle(_ work: Matrix, matches reference: Matrix, strictLowerStays value: Double,
                             relativeTolerance: Double, absoluteTolerance: Double, _ label: String,
                             file: StaticString = #filePath, line: UInt = #line) {
        let n = work.rows
        for i in 0..<n { for j in 0..<i { XCTAssertEqual(work[i, j], value, label, file: file, line: line) } }
        var upper = [Double](), expected = [Double]()
        for i in 0..<n { for j in i..<n { upper.append(work[i, j]); expected.append(reference[i, j]) } }
        let check = allClose(upper, expected, relativeTolerance: relativeTolerance, absoluteTolerance: absoluteTolerance)
        XCTAssert(check.ok, "\(label): \(check.message)", file: file, line: line)
    }

    /// The blocked two-core factorization against dpotrf on the same triangle (rounding apart), with the halves
    /// side by side and one after the other (bit for bit the same), several blocks and a remainder; the strict
    /// lower triangle untouched; an indefinite matrix names its failing minor.
    func testBlockedCholeskyMatchesDpotrf() throws {
        let n = 150
        let a = try symmetricPositiveDefinite(n, seed: 21)
        var reference = a
        XCTAssertEqual(try choleskyFactorInPlace(&reference, triangle: .upper), 0)
        var results = [Matrix]()
        for parallel in [true, false] {
            var work = a
            for i in 0..<n { for j in 0..<i { work[i, j] = -7 } }
            XCTAssertEqual(try choleskyFactorUpperByBlocks(&work, blockSize: 32, parallel: parallel), 0)
            assertUpperTriangle(work, matches: reference, strictLowerStays: -7, relativeTolerance: 1e-12, absoluteTolerance: 1e-13,
                                "parallel \(parallel)")
            results.append(work)
        }
        XCTAssertEqual(results[0].values.map(\.bitPattern), results[1].values.map(\.bitPattern))
        // A negative pivot in the third block (row 70): info is its order.
        var indefinite = Matrix.identity(100)
        indefinite[70, 70] = -1
        XCTAssertEqual(try choleskyFactorUpperByBlocks(&indefinite, blockSize: 32, parallel: true), 71)
    }

    /// The eight-lane exponential against Foundation's exp on a sweep of [-745, 709] (every binade's worth of the
    /// kernel's exponents, the reduction's boundaries at odd multiples of ln 2 / 2, 0 and the ends), within 2 ulp;
    /// underflow, overflow and NaN lanes.
    func testExponentialMatchesExpWithinTwoUlp() {
        var xs: [Double] = [0, -0.0, 1e-300, -1e-300, 0.5, -0.5, 1, -1, 709, -708, -708.39, -708.3964, 700, -700]
        for k in -1100...1100 { xs.append((Double(k) + 0.5) * M_LN2); xs.append((Double(k) + 0.5).nextDown * M_LN2) }
        var rng = SplitMix64(seed: 61)
        for _ in 0..<20_000 { xs.append(-745 + 1454 * Double(rng.next() >> 11) * 0x1p-53) }
        for _ in 0..<20_000 { xs.append(-Double(rng.next() >> 11) * 0x1p-53 * 40) }   // the GP's -|x - x'|^2 / (2 l^2)
        xs = xs.filter { $0 >= -708.39 && $0 <= 709 }
        while xs.count % 8 != 0 { xs.append(0) }
        var worst = 0.0
        for start in stride(from: 0, to: xs.count, by: 8) {
            let v = exponential(SIMD8<Double>(xs[start..<(start + 8)]))
            for lane in 0..<8 {
                let expected = exp(xs[start + lane])
                let ulps = abs(v[lane] - expected) / expected.ulp
                worst = max(worst, ulps)
                XCTAssertLessThanOrEqual(ulps, 2, "exp(\(xs[start + lane])): \(v[lane]) vs \(expected)")
            }
        }
        print("exponential: worst \(worst) ulp over \(xs.count) values")
        let special = exponential(SIMD8<Double>(-800, -708.4, .infinity * -1, 710, .infinity, .nan, 0, -1))
        XCTAssertEqual(Array(0..<5).map { special[$0] }, [0, 0, 0, .infinity, .infinity])
        XCTAssert(special[5].isNaN)
        XCTAssertEqual(special[6], 1)
        XCTAssertEqual(special[7], exp(-1), accuracy: 2 * exp(-1).ulp)
    }

    /// The recursive inverse from the factor against dpotri (rounding apart) at orders below, at and above the
    /// base, odd halves included; the halves side by side and one after the other bit for bit the same; the strict
    /// lower triangle untouched; a zero on the factor's diagonal names its order.
    func testInverseByHalvesMatchesDpotri() throws {
        for (n, baseOrder) in [(5, 8), (8, 8), (37, 8), (150, 16), (301, 64)] {
            let a = try symmetricPositiveDefinite(n, seed: UInt64(30 + n))
            var factor = a
            for i in 0..<n { for j in 0..<i { factor[i, j] = -7 } }
            XCTAssertEqual(try choleskyFactorInPlace(&factor, triangle: .upper), 0)
            var reference = factor
            try choleskyInverseInPlace(&reference, triangle: .upper)
            var results = [Matrix]()
            for parallel in [true, false] {
                var work = factor
                try choleskyInverseUpperByBlocks(&work, baseOrder: baseOrder, parallel: parallel)
                assertUpperTriangle(work, matches: reference, strictLowerStays: -7, relativeTolerance: 1e-10, absoluteTolerance: 1e-14,
                                    "n \(n) parallel \(parallel)")
                results.append(work)
            }
            XCTAssertEqual(results[0].values.map(\.bitPattern), results[1].values.map(\.bitPattern), "n \(n)")
        }
        for zero in [3, 40, 99] {
            var singular = Matrix.identity(100)
            singular[zero, zero] = 0
            XCTAssertThrowsError(try choleskyInverseUpperByBlocks(&singular, baseOrder: 16, parallel: true)) { error in
                XCTAssertEqual(error as? LinearAlgebraError, .lapackFailure(routine: "dtrtri (zero diagonal element \(zero + 1))", info: zero + 1))
            }
        }
    }

    func testCholeskyOfIndefiniteMatrixNamesTheFailingMinor() {
        let a = Matrix(rows: 3, columns: 3, values: [4, 0, 0, 0, 1, 2, 0, 2, 1])   // minor of order 3 is negative
        XCTAssertThrowsError(try Cholesky(a)) { error in
            XCTAssertEqual(error as? LinearAlgebraError, .notPositiveDefinite(operation: "Cholesky (dpotrf)", order: 3, size: 3))
            XCTAssert(error.localizedDescription.contains("not positive definite"))
        }
        var nan = Matrix.identity(2); nan[1, 0] = .nan
        XCTAssertThrowsError(try Cholesky(nan)) { XCTAssertEqual($0 as? LinearAlgebraError, .nonFinite(operation: "Cholesky", row: 1, column: 0)) }
    }

    func testSymmetricEigendecompositionReconstructs() throws {
        let a = try symmetricPositiveDefinite(5, seed: 7)
        let e = try SymmetricEigendecomposition(a)
        XCTAssertEqual(e.values, e.values.sorted())
        var scaled = e.vectors
        for r in 0..<5 { for c in 0..<5 { scaled[r, c] *= e.values[c] } }
        let back = try multiply(scaled, e.vectors, transposeB: true)
        XCTAssert(allClose(back.values, a.values, relativeTolerance: 1e-11, absoluteTolerance: 1e-11).ok)
    }

    func testThinSVDReconstructsWideAndTallMatrices() throws {
        for (m, n) in [(4, 9), (9, 4)] {
            let a = randomMatrix(m, n, seed: UInt64(m * 10 + n))
            let svd = try SingularValueDecomposition(a)
            XCTAssertEqual(svd.singularValues.count, min(m, n))
            XCTAssertEqual(svd.singularValues, svd.singularValues.sorted(by: >))
            var us = svd.u
            for r in 0..<m { for c in 0..<min(m, n) { us[r, c] *= svd.singularValues[c] } }
            let back = try multiply(us, svd.vt)
            let check = allClose(back.values, a.values, relativeTolerance: 1e-11, absoluteTolerance: 1e-12)
            XCTAssert(check.ok, "\(m) x \(n): \(check.message)")
        }
    }

    func testUpperTriangularSolve() throws {
        let u = Matrix(rows: 3, columns: 3, values: [2, 1, -1, 0, 3, 2, 0, 0, 4])
        let x = try solveTriangular(u, Matrix(rows: 3, columns: 1, values: [1, 2, 3]), lower: false)
        XCTAssert(allClose(try multiply(u, x).values, [1, 2, 3], relativeTolerance: 1e-14).ok)
    }
}
