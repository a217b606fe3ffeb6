// Bad input for every head: NaN/infinite features, one-class training data, a class with one row,
// zero-variance columns, more features than rows. Each is a clear error or finite probabilities.

import XCTest
import LinearAlgebra
import Heads
import TestSupport

final class BadInputTests: XCTestCase {
    func heads() throws -> [any Classifier] {
        [try SoftmaxRegression(epochs: 30), try SupportVectorMachine(kernel: .linear), try SupportVectorMachine(),
         try GaussianProcessClassifier(restarts: 1), try GradientBoostedTrees(rounds: 20)]
    }

    func randomMatrix(_ rows: Int, _ columns: Int, seed: UInt64) -> Matrix {
        var rng = SplitMix64(seed: seed)
        return Matrix(rows: rows, columns: columns, values: (0..<(rows * columns)).map { _ in Double(rng.next() >> 11) * 0x1p-53 - 0.5 })
    }

    func assertFiniteProbabilities(_ model: any FittedClassifier, _ x: Matrix, _ context: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let p = try model.predictProba(x)
        XCTAssertEqual(p.columns, model.classes.count, context, file: file, line: line)
        XCTAssertFalse(p.values.contains { !$0.isFinite }, "\(context): non-finite probability", file: file, line: line)
        for r in 0..<p.rows { XCTAssertEqual(p.row(r).reduce(0, +), 1, accuracy: 1e-6, context, file: file, line: line) }
    }

    func testNonFiniteFeaturesAreRejectedNamingRowAndColumn() throws {
        var x = randomMatrix(12, 3, seed: 1)
        x[7, 2] = .nan
        let labels = (0..<12).map { $0 % 2 }
        for head in try heads() {
            XCTAssertThrowsError(try head.fit(x, labels: labels, sampleWeights: nil), head.name) { error in
                XCTAssert(error.localizedDescription.contains("row 7, column 2"), "\(head.name): \(error.localizedDescription)")
            }
            XCTAssertThrowsError(try Pipeline(steps: [Standardizer()], head: head).fit(x, labels: labels, sampleWeights: nil))
        }
        x[7, 2] = -.infinity
        XCTAssertThrowsError(try SoftmaxRegression().fit(x, labels: labels, sampleWeights: nil)) { error in
            XCTAssert(error.localizedDescription.contains("-inf"), error.localizedDescription)
        }
    }

    func testOneClassTrainingDataIsAnError() throws {
        let x = randomMatrix(6, 2, seed: 2)
        for head in try heads() {
            XCTAssertThrowsError(try head.fit(x, labels: [1, 1, 1, 1, 1, 1], sampleWeights: nil), head.name) { error in
                XCTAssert(error.localizedDescription.contains("only class 1"), error.localizedDescription)
            }
        }
    }

    func testMismatchedLabelsAndBadSampleWeightsAreErrors() throws {
        let x = randomMatrix(6, 2, seed: 3)
        for head in try heads() {
            XCTAssertThrowsError(try head.fit(x, labels: [0, 1, 0], sampleWeights: nil), head.name)
            XCTAssertThrowsError(try head.fit(x, labels: [0, 1, 0, 1, 0, 1], sampleWeights: [1, 1, -1, 1, 1, 1]), head.name)
        }
    }

    /// A class with a single row (smaller than any fold count), zero-variance columns and more features
    /// than rows: every head fits and returns finite probabilities that sum to 1.
    func testSingletonClassConstantColumnsAndWideMatricesGiveFiniteProbabilities() throws {
        var x = randomMatrix(30, 80, seed: 4)          // 30 rows, 80 features
        for r in 0..<30 { x[r, 5] = 3; x[r, 40] = 0 }   // zero-variance columns
        let labels = (0..<30).map { $0 == 0 ? 2 : $0 % 2 }   // class 2 has one row
        for r in 0..<30 where labels[r] == 1 { x[r, 0] += 1 }
        let test = randomMatrix(7, 80, seed: 5)
        for head in try heads() {
            for pipeline in [Pipeline(steps: [Standardizer()], head: head), Pipeline(steps: [Standardizer(), try PCA(components: .count(10))], head: head)] {
                let model = try pipeline.fit(x, labels: labels, sampleWeights: nil)
                XCTAssertEqual(model.classes, [0, 1, 2])
                try assertFiniteProbabilities(model, test, pipeline.name)
                try assertFiniteProbabilities(model, x, pipeline.name)
            }
        }
    }

    func testInvalidHyperparametersAreRejected() throws {
        XCTAssertThrowsError(try SupportVectorMachine(C: 0))
        XCTAssertThrowsError(try SupportVectorMachine(kernel: .rbf(gamma: .value(-1))))
        XCTAssertThrowsError(try GaussianProcessClassifier(lengthScale: 0))
        XCTAssertThrowsError(try GaussianProcessClassifier(restarts: -1))
        XCTAssertThrowsError(try GradientBoostedTrees(minSamplesLeaf: 0))
        XCTAssertThrowsError(try GradientBoostedTrees(maxBins: 256))
        XCTAssertThrowsError(try GradientBoostedTrees(featureFraction: 0))
        XCTAssertThrowsError(try GradientBoostedTrees(earlyStopping: .init(validationFraction: 1)))
    }
}
