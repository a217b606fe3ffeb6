// minimizeInBox (L-BFGS-B) against scipy's L-BFGS-B with its defaults (the optimiser scikit-learn's
// GaussianProcessClassifier runs): the same points evaluated in the same order, the same stopping iteration.
// Fixture: scripts/fixtures/lbfgsb_fixtures.py (which defines the same problems).

import Foundation
import XCTest
import Heads
import TestSupport

struct LBFGSBPaths: Decodable {
    struct Case: Decodable {
        let name: String
        let start: [Double]
        let lower: [Double]
        let upper: [Double]
        let evaluated: [[Double]]
        let x: [Double]
        let value: Double
        let iterations: Int
        let evaluations: Int
    }
    let generatorVersion: Int
    let cases: [Case]
}

final class BoxLBFGSTests: XCTestCase {
    /// The problems of lbfgsb_fixtures.py, by name.
    static func objective(_ name: String) -> ([Double]) -> (Double, [Double]) {
        switch name {
        case "rosenbrock_free", "rosenbrock_bound":
            return { p in
                let a = p[1] - p[0] * p[0]
                return (100 * a * a + (1 - p[0]) * (1 - p[0]), [-400 * a * p[0] - 2 * (1 - p[0]), 200 * a])
            }
        case "quadratic_corner":
            return { p in
                ((p[0] - 3) * (p[0] - 3) + 10 * (p[1] + 2) * (p[1] + 2) + p[0] * p[1], [2 * (p[0] - 3) + p[1], 20 * (p[1] + 2) + p[0]])
            }
        default:   // gp_like
            return { p in
                let z = 4 - p[0]
                let softplus = max(z, 0) + log1p(exp(-abs(z))), sigmoid = 1 / (1 + exp(-z))
                let r = p[0] - 2 * p[1]
                return (30 * softplus + r * r + exp(p[1] - 3), [-30 * sigmoid + 2 * r, -4 * r + exp(p[1] - 3)])
            }
        }
    }

    func testEvaluatesTheSamePointsAsScipy() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "lbfgsb_paths", withExtension: "json", subdirectory: "Fixtures"))
        let paths = try JSONDecoder().decode(LBFGSBPaths.self, from: Data(contentsOf: url))
        XCTAssertEqual(paths.generatorVersion, 1)
        XCTAssertEqual(paths.cases.count, 4)
        for reference in paths.cases {
            let function = Self.objective(reference.name)
            var evaluated = [[Double]]()
            let result = minimizeInBox(start: reference.start, lower: reference.lower, upper: reference.upper) { point in
                evaluated.append(point)
                return function(point)
            }
            // Rounding differs (dense B against scipy's compact form), and Rosenbrock's valley amplifies it over
            // tens of iterations: every point to 1e-6, the count of evaluations and iterations exactly.
            let count = min(evaluated.count, reference.evaluated.count)
            let path = allClose(evaluated.prefix(count).flatMap { $0 }, reference.evaluated.prefix(count).flatMap { $0 },
                                relativeTolerance: 1e-6, absoluteTolerance: 1e-8)
            print("L-BFGS-B \(reference.name): \(result.evaluations) evaluations (scipy \(reference.evaluations)), \(result.iterations) iterations (scipy \(reference.iterations)), \(result.status); path \(path.message)")
            XCTAssert(path.ok, "\(reference.name): \(path.message)")
            XCTAssertEqual(result.evaluations, evaluated.count)
            XCTAssertEqual(evaluated.count, reference.evaluated.count, reference.name)
            XCTAssertEqual(result.iterations, reference.iterations, reference.name)
            XCTAssert(allClose(result.point, reference.x, relativeTolerance: 1e-6, absoluteTolerance: 1e-8).ok, reference.name)
            XCTAssertTrue(result.status == .projectedGradient || result.status == .relativeDecrease, "\(reference.name): \(result.status)")
        }
    }

    func testStartOutsideTheBoxIsClippedAndBoundsHold() {
        var outside = false
        let result = minimizeInBox(start: [5, -5], lower: [-1, -1], upper: [1, 1]) { p in
            if p.enumerated().contains(where: { $0.element < -1 || $0.element > 1 }) { outside = true }
            return Self.objective("quadratic_corner")(p)
        }
        XCTAssertFalse(outside)
        XCTAssertEqual(result.point, [1, -1])
    }

    func testFailedEvaluationsShortenTheStep() {
        // Infinite beyond x = 2: the first step from 0 (to the bound 10) fails and is halved until finite.
        let result = minimizeInBox(start: [0], lower: [-10], upper: [10]) { p in
            p[0] > 2 ? (.infinity, [0]) : ((p[0] - 1) * (p[0] - 1), [2 * (p[0] - 1)])
        }
        XCTAssertEqual(result.point[0], 1, accuracy: 1e-6)
    }
}
