// minimizeLBFGS on functions whose minimiser is known in closed form (Rosenbrock: all ones; a
// quadratic 1/2 x^T A x - b^T x: the solution of A x = b, by Cholesky), and how it reports stops.

import XCTest
import LinearAlgebra
import Heads
import TestSupport

final class LBFGSTests: XCTestCase {
    /// Extended Rosenbrock sum_i 100 (x_2i+1 - x_2i^2)^2 + (1 - x_2i)^2 (Nocedal & Wright eq. 7.23 form).
    static func rosenbrock(_ x: UnsafePointer<Double>, _ g: UnsafeMutablePointer<Double>, count: Int) -> Double {
        var f = 0.0
        for i in stride(from: 0, to: count, by: 2) {
            let a = x[i + 1] - x[i] * x[i], b = 1 - x[i]
            f += 100 * a * a + b * b
            g[i] = -400 * a * x[i] - 2 * b
            g[i + 1] = 200 * a
        }
        return f
    }

    func testRosenbrockReachesAllOnes() {
        for count in [2, 20] {
            let start = (0..<count).map { $0 % 2 == 0 ? -1.2 : 1.0 }
            let result = minimizeLBFGS(start, options: LBFGSOptions(gradientTolerance: 1e-10)) { x, g in Self.rosenbrock(x, g, count: count) }
            print("Rosenbrock n = \(count): \(result.summary)")
            XCTAssertTrue(result.converged, result.summary)
            let check = allClose(result.x, [Double](repeating: 1, count: count), relativeTolerance: 0, absoluteTolerance: 1e-8)
            XCTAssert(check.ok, check.message)
            XCTAssertLessThan(result.value, 1e-16)
        }
    }

    func testQuadraticReachesTheSolutionOfTheLinearSystem() throws {
        // A = M^T M + I (30 x 30, condition ~ 100s), b: seeded uniform entries.
        let n = 30
        var rng = SplitMix64(seed: 11)
        func uniform() -> Double { Double(rng.next() >> 11) * 0x1p-53 * 2 - 1 }
        let m = Matrix(rows: n, columns: n, values: (0..<(n * n)).map { _ in uniform() })
        var a = try multiply(m, transposeA: true, m)
        for i in 0..<n { a.values[i * n + i] += 1 }
        let b = (0..<n).map { _ in uniform() }
        let solution = try Cholesky(a).solve(b)
        // Gradient criterion only (no relative-decrease stop): |x - x*| <= |g|_2 / lambda_min(A) <= sqrt(30) 1e-7.
        // (Much below 1e-7 the decrease of f ~ |g|^2 is under f's rounding and the line search fails.)
        let result = minimizeLBFGS([Double](repeating: 0, count: n), options: LBFGSOptions(gradientTolerance: 1e-7, valueTolerance: 0)) { x, g in
            var f = 0.0
            for i in 0..<n {
                var ax = 0.0
                for j in 0..<n { ax += a.values[i * n + j] * x[j] }
                g[i] = ax - b[i]
                f += 0.5 * x[i] * ax - b[i] * x[i]
            }
            return f
        }
        print("quadratic n = \(n): \(result.summary)")
        XCTAssertEqual(result.status, .gradientTolerance, result.summary)
        let check = allClose(result.x, solution, relativeTolerance: 0, absoluteTolerance: 6e-7)
        XCTAssert(check.ok, check.message)
    }

    func testInfiniteTrialValuesAreBacktrackedFrom() {
        // f(x) = -log(1 - 4 x^2), infinite outside (-0.5, 0.5); from 0.1 the first step (length 1 along
        // -g, as L-BFGS-B's) lands at -0.9, outside.
        var infiniteTrials = 0
        let result = minimizeLBFGS([0.1], options: LBFGSOptions(gradientTolerance: 1e-8)) { x, g in
            let u = 1 - 4 * x[0] * x[0]
            guard u > 0 else { infiniteTrials += 1; g[0] = .nan; return .infinity }
            g[0] = 8 * x[0] / u
            return -log(u)
        }
        XCTAssertGreaterThan(infiniteTrials, 0)
        XCTAssertTrue(result.converged, result.summary)
        XCTAssertEqual(result.x[0], 0, accuracy: 1e-9)
    }

    func testStopsAreReportedNotFatal() {
        let capped = minimizeLBFGS([-1.2, 1], options: LBFGSOptions(maxIterations: 3)) { x, g in Self.rosenbrock(x, g, count: 2) }
        XCTAssertEqual(capped.status, .maxIterations)
        XCTAssertEqual(capped.iterations, 3)
        XCTAssertFalse(capped.converged)
        XCTAssertLessThan(capped.value, 24.2, "three iterations must have decreased f from f(-1.2, 1) = 24.2")

        let broken = minimizeLBFGS([1, 2]) { _, g in g[0] = 0; g[1] = 0; return .nan }
        XCTAssertEqual(broken.status, .nonFinite)
        XCTAssertEqual(broken.x, [1, 2])

        let atMinimum = minimizeLBFGS([1, 1]) { x, g in Self.rosenbrock(x, g, count: 2) }
        XCTAssertEqual(atMinimum.status, .gradientTolerance)
        XCTAssertEqual(atMinimum.iterations, 0)
    }
}
