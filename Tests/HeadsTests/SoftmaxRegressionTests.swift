// SoftmaxRegression: Adam (solver: .adam) reaches the exact optimum of its objective (solved by L-BFGS in
// the generator), and the default head's macro F1 matches scikit-learn's LogisticRegression on the 8 folds.
// The L-BFGS solver's own checks: SoftmaxLBFGSTests.swift.

import XCTest
import LinearAlgebra
import Heads
import TestSupport

final class SoftmaxRegressionTests: XCTestCase {
    func testAdamReachesTheObjectiveOptimumOnFold0() throws {
        let results = try Fixtures.sklearn()
        for name in ["breast_cancer", "wine"] {
            let data = try Fixtures.dataset(name)
            let reference = try XCTUnwrap(results.datasets[name]).softmaxOptimum
            let fold = try standardisedFold0(data)
            for batchSize in [nil, 32] as [Int?] {
                let head = try SoftmaxRegression(solver: .adam, learningRate: 0.05, epochs: 1000, batchSize: batchSize, l2: reference.l2, seed: 3)
                let model = try head.fitSoftmax(fold.train, labels: fold.trainLabels, sampleWeights: nil)
                let objective = try SoftmaxRegression.objective(model, features: fold.train, labels: fold.trainLabels,
                                                                l2: reference.l2, classWeight: .balanced)
                let gap = (objective - reference.objective) / reference.objective
                print(String(format: "softmax %@ batch %@: objective %.8f vs optimum %.8f (relative gap %.2e)",
                             name, batchSize.map(String.init) ?? "full", objective, reference.objective, gap))
                XCTAssertLessThan(gap, 1e-3, "\(name) batch \(String(describing: batchSize))")
                XCTAssertGreaterThan(gap, -1e-6, "below the exact optimum: the objectives differ")
                let p = try model.predictProba(fold.test)
                let check = allClose(p.values, reference.testProbability.flatMap { $0 }, relativeTolerance: 0, absoluteTolerance: 0.02)
                XCTAssert(check.ok, "\(name): \(check.message)")
            }
        }
    }

    func testMacroF1MatchesLogisticRegressionOnEightFolds() throws {
        let results = try Fixtures.sklearn()
        for name in ["breast_cancer", "wine"] {
            let data = try Fixtures.dataset(name)
            let ours = try crossValidatedMacroF1(SoftmaxRegression(), on: data)
            assertMacroF1(ours, reference: try XCTUnwrap(results.datasets[name]?.macroF1["logistic"]), head: "softmax", dataset: name)
        }
    }

    func testDeterministicForASeedAndProbabilitiesSumToOne() throws {
        let fold = try standardisedFold0(try Fixtures.dataset("wine"))
        let head = try SoftmaxRegression(solver: .adam, epochs: 20, seed: 9)
        let a = try head.fitSoftmax(fold.train, labels: fold.trainLabels, sampleWeights: nil)
        let b = try head.fitSoftmax(fold.train, labels: fold.trainLabels, sampleWeights: nil)
        XCTAssertEqual(a.weights, b.weights)
        let p = try a.predictProba(fold.test)
        for r in 0..<p.rows { XCTAssertEqual(p.row(r).reduce(0, +), 1, accuracy: 1e-12) }
        XCTAssertEqual(a.classes, [0, 1, 2])
    }

    func testInvalidHyperparametersAreRejectedAtInit() throws {
        XCTAssertThrowsError(try SoftmaxRegression(learningRate: 0))
        XCTAssertThrowsError(try SoftmaxRegression(epochs: 0))
        XCTAssertThrowsError(try SoftmaxRegression(batchSize: 0))
        XCTAssertThrowsError(try SoftmaxRegression(l2: -1))
    }
}
