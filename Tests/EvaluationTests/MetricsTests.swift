import XCTest
import Evaluation
import Heads
import LinearAlgebra
import TestSupport

/// Against scikit-learn 1.9 on the cases written by scripts/fixtures/evaluation_fixtures.py.
final class MetricsTests: XCTestCase {
    struct Fixture: Decodable {
        struct Expected: Decodable {
            let confusion: [[Int]]
            let perClassF1: [Double]
            let macroF1, microF1, weightedF1, balancedAccuracy, logLoss: Double
        }
        struct Case: Decodable {
            let name: String
            let classes, truth, predicted: [Int]
            let probabilities: [Double]
            let expected: Expected
        }
        let generatorVersion: Int
        let cases: [Case]
    }

    func testMetricsMatchScikitLearn() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/metrics", withExtension: "json"))
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
        XCTAssertEqual(fixture.generatorVersion, 1)
        XCTAssertGreaterThanOrEqual(fixture.cases.count, 6)
        for item in fixture.cases {
            let probabilities = Matrix(rows: item.truth.count, columns: item.classes.count, values: item.probabilities)
            let metrics = ClassificationMetrics(classes: item.classes, truth: item.truth, predicted: item.predicted, probabilities: probabilities)
            XCTAssertEqual(metrics.confusion, item.expected.confusion, item.name)
            let scalars = [metrics.macroF1, metrics.microF1, metrics.weightedF1, metrics.balancedAccuracy, metrics.logLoss ?? .nan]
            let expected = [item.expected.macroF1, item.expected.microF1, item.expected.weightedF1, item.expected.balancedAccuracy, item.expected.logLoss]
            let check = allClose(scalars, expected, relativeTolerance: 1e-12, absoluteTolerance: 1e-12)
            XCTAssertTrue(check.ok, "\(item.name): \(check.message)")
            let perClass = allClose(metrics.perClassF1, item.expected.perClassF1, relativeTolerance: 1e-12, absoluteTolerance: 1e-12)
            XCTAssertTrue(perClass.ok, "\(item.name): \(perClass.message)")
        }
    }

    func testNeverPredictedClassesAreFlagged() {
        let metrics = ClassificationMetrics(classes: [-1, 0, 1], truth: [-1, -1, 0, 1], predicted: [-1, -1, -1, -1])
        XCTAssertEqual(metrics.neverPredicted, [0, 1])
        XCTAssertEqual(metrics.perClassF1[1], 0)
        XCTAssertEqual(metrics.accuracy, 0.5)
        XCTAssertNil(metrics.logLoss)
    }

    func testArgmaxPredictionsTieToTheLowerClass() {
        let probabilities = Matrix(rows: 2, columns: 3, values: [0.4, 0.4, 0.2, 0.1, 0.45, 0.45])
        XCTAssertEqual(argmaxLabels(probabilities, classes: [-1, 0, 1]), [-1, 0])
    }
}
