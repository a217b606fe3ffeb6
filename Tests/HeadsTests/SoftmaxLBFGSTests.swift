// SoftmaxRegression with its default L-BFGS solver: the exact optimum of the header's objective (weights,
// biases, value) on binary and 3-class data with class and sample weights, and scikit-learn's
// LogisticRegression at the equivalent C. Expected numbers: scripts/fixtures/heads_fixtures.py
// (`--only softmax` writes softmax_lbfgs.json).

import XCTest
import LinearAlgebra
import Heads
import TestSupport

struct SoftmaxLBFGSCase: Decodable {
    let classWeight: String
    let sampleWeights: [Double]?
    let l2: Double
    let objective: Double
    /// features x classes
    let weights: [[Double]]
    /// centred (sum 0)
    let biases: [Double]
    let testProbability: [[Double]]
    let sklearnC: Double
    let sklearnTightProbability: [[Double]]
    let sklearnDefaultPrediction: [Int]
    let sklearnDefaultProbability: [[Double]]
    let sklearnDefaultIterations: Int
}

struct SoftmaxLBFGSDataset: Decodable {
    let testLabels: [Int]
    let cases: [SoftmaxLBFGSCase]
}

struct SoftmaxLBFGSFixture: Decodable {
    let generatorVersion: Int
    let sklearnVersion: String
    let datasets: [String: SoftmaxLBFGSDataset]
}

final class SoftmaxLBFGSTests: XCTestCase {
    static let names = ["breast_cancer", "wine"]

    func head(_ reference: SoftmaxLBFGSCase, tolerance: Double = 1e-4, maxIterations: Int = 1000) throws -> SoftmaxRegression {
        try SoftmaxRegression(solver: .lbfgs, tolerance: tolerance, maxIterations: maxIterations, l2: reference.l2,
                              classWeight: reference.classWeight == "balanced" ? .balanced : .none)
    }

    func testReachesTheExactOptimumWithClassAndSampleWeights() throws {
        let fixture = try Fixtures.decode(SoftmaxLBFGSFixture.self, "softmax_lbfgs")
        for name in Self.names {
            let fold = try standardisedFold0(try Fixtures.dataset(name))
            for reference in try XCTUnwrap(fixture.datasets[name]).cases {
                let label = "\(name) \(reference.classWeight) sample weights \(reference.sampleWeights != nil) l2 \(reference.l2)"
                let model = try head(reference, tolerance: 1e-10).fitSoftmax(fold.train, labels: fold.trainLabels, sampleWeights: reference.sampleWeights)
                XCTAssertTrue(model.diagnostics.isEmpty, "\(label): \(model.diagnostics)")
                let objective = try SoftmaxRegression.objective(model, features: fold.train, labels: fold.trainLabels, l2: reference.l2,
                                                                classWeight: head(reference).classWeight, sampleWeights: reference.sampleWeights)
                let gap = (objective - reference.objective) / reference.objective
                print(String(format: "softmax L-BFGS %@: objective %.12f vs optimum %.12f (relative gap %.1e); %@",
                             label, objective, reference.objective, gap, model.solverSummary))
                XCTAssertLessThan(abs(gap), 1e-11, label)   // observed <= 2e-13
                // The solver stops at max |gradient| <= 1e-10 or, first here, at scipy's relative decrease of
                // 64 eps with max |gradient| ~ 1e-8; J's curvature along W is at least l2 (0.01), so the weights
                // sit within ~1e-6 of the optimum (observed: 5e-7; b: 1.5e-6; probabilities: 3e-7).
                let weights = allClose(model.weights.values, reference.weights.flatMap { $0 }, relativeTolerance: 0, absoluteTolerance: 3e-6)
                XCTAssert(weights.ok, "\(label) weights: \(weights.message)")
                let meanBias = model.biases.reduce(0, +) / Double(model.biases.count)
                let biases = allClose(model.biases.map { $0 - meanBias }, reference.biases, relativeTolerance: 0, absoluteTolerance: 5e-6)
                XCTAssert(biases.ok, "\(label) biases: \(biases.message)")
                let p = try model.predictProba(fold.test)
                let probability = allClose(p.values, reference.testProbability.flatMap { $0 }, relativeTolerance: 0, absoluteTolerance: 1e-6)
                XCTAssert(probability.ok, "\(label) probabilities: \(probability.message)")
                // scikit-learn's LogisticRegression at the equivalent C, solved tightly, is the same model.
                let sklearn = allClose(p.values, reference.sklearnTightProbability.flatMap { $0 }, relativeTolerance: 0, absoluteTolerance: 2e-6)
                XCTAssert(sklearn.ok, "\(label) vs LogisticRegression(C=\(reference.sklearnC)): \(sklearn.message)")
            }
        }
    }

    func testDefaultToleranceGivesLogisticRegressionsPredictions() throws {
        let fixture = try Fixtures.decode(SoftmaxLBFGSFixture.self, "softmax_lbfgs")
        for name in Self.names {
            let fold = try standardisedFold0(try Fixtures.dataset(name))
            for reference in try XCTUnwrap(fixture.datasets[name]).cases {
                let label = "\(name) \(reference.classWeight) sample weights \(reference.sampleWeights != nil) l2 \(reference.l2)"
                let model = try head(reference).fitSoftmax(fold.train, labels: fold.trainLabels, sampleWeights: reference.sampleWeights)
                XCTAssertTrue(model.diagnostics.isEmpty, "\(label): \(model.diagnostics)")
                XCTAssertEqual(try model.predict(fold.test), reference.sklearnDefaultPrediction, label)
                // Both stop at max |gradient| <= 1e-4, each somewhere near the optimum.
                let p = try model.predictProba(fold.test)
                let ours = compare(p.values, reference.testProbability.flatMap { $0 })
                let sklearn = compare(reference.sklearnDefaultProbability.flatMap { $0 }, reference.testProbability.flatMap { $0 })
                print(String(format: "softmax %@ at tol 1e-4: %@; max probability error ours %.1e, LogisticRegression's %.1e (%d iterations)",
                             label, model.solverSummary, ours.maxAbsoluteDifference, sklearn.maxAbsoluteDifference, reference.sklearnDefaultIterations))
                XCTAssertLessThan(ours.maxAbsoluteDifference, 0.01, "\(label): \(ours)")
            }
        }
    }

    func testAlsoReachesTheSharedFixturesOptimum() throws {
        // sklearn_heads.json's optimum (balanced, l2 0.01), which the Adam test approaches to 1e-3.
        let results = try Fixtures.sklearn()
        for name in Self.names {
            let fold = try standardisedFold0(try Fixtures.dataset(name))
            let reference = try XCTUnwrap(results.datasets[name]).softmaxOptimum
            let model = try SoftmaxRegression(tolerance: 1e-10, l2: reference.l2).fitSoftmax(fold.train, labels: fold.trainLabels, sampleWeights: nil)
            let objective = try SoftmaxRegression.objective(model, features: fold.train, labels: fold.trainLabels, l2: reference.l2, classWeight: .balanced)
            XCTAssertLessThan(abs(objective - reference.objective) / reference.objective, 1e-11, name)
        }
    }

    func testNonConvergenceIsAWarningAndSettingsAreChecked() throws {
        let fold = try standardisedFold0(try Fixtures.dataset("wine"))
        let capped = try SoftmaxRegression(maxIterations: 2).fitSoftmax(fold.train, labels: fold.trainLabels, sampleWeights: nil)
        XCTAssertEqual(capped.diagnostics.map(\.kind), [.iterationLimit])
        XCTAssert(capped.diagnostics[0].message.contains(capped.solverSummary), capped.diagnostics[0].message)
        // Through the type-erased model (what cross-validation holds) and a pipeline.
        let erased: any FittedClassifier = try Pipeline(steps: [Standardizer()], head: try SoftmaxRegression(maxIterations: 1))
            .fit(fold.train, labels: fold.trainLabels, sampleWeights: nil)
        XCTAssertEqual(erased.diagnostics.map(\.kind), [.iterationLimit])
        XCTAssertEqual(erased.diagnostics.first?.source, "softmax")
        XCTAssert(capped.solverSummary.contains("maxIterations"), capped.solverSummary)
        let p = try capped.predictProba(fold.test)
        for r in 0..<p.rows { XCTAssertEqual(p.row(r).reduce(0, +), 1, accuracy: 1e-12) }

        XCTAssertEqual(try SoftmaxRegression().solver, .lbfgs)
        XCTAssertEqual(SoftmaxRegression.Solver(rawValue: "adam"), .adam)
        XCTAssertThrowsError(try SoftmaxRegression(tolerance: 0))
        XCTAssertThrowsError(try SoftmaxRegression(tolerance: .nan))
        XCTAssertThrowsError(try SoftmaxRegression(maxIterations: 0))
    }

    func testWideFeaturesDeterministicAndBetterThanAdam() throws {
        // The embedding shape (rows < columns, 3 classes): L-BFGS at its tolerance against 300 Adam epochs.
        var rng = SplitMix64(seed: 5)
        let n = 40, d = 700
        let labels = (0..<n).map { $0 < 26 ? 0 : ($0 < 33 ? 1 : 2) }
        var x = Matrix(rows: n, columns: d)
        for i in 0..<n { for j in 0..<d { x.values[i * d + j] = Double(rng.next() >> 11) * 0x1p-53 - 0.5 + (j < 20 && j % 3 == labels[i] ? 0.3 : 0) } }
        let lbfgs = try SoftmaxRegression()
        let a = try lbfgs.fitSoftmax(x, labels: labels, sampleWeights: nil)
        let b = try lbfgs.fitSoftmax(x, labels: labels, sampleWeights: nil)
        XCTAssertEqual(a.weights, b.weights)
        XCTAssertTrue(a.diagnostics.isEmpty, "\(a.diagnostics)")
        let adam = try SoftmaxRegression(solver: .adam).fitSoftmax(x, labels: labels, sampleWeights: nil)
        let ours = try SoftmaxRegression.objective(a, features: x, labels: labels, l2: 0.01, classWeight: .balanced)
        let theirs = try SoftmaxRegression.objective(adam, features: x, labels: labels, l2: 0.01, classWeight: .balanced)
        print(String(format: "wide 40 x 700: L-BFGS J %.8f (%@), Adam J %.8f", ours, a.solverSummary, theirs))
        XCTAssertLessThanOrEqual(ours, theirs + 1e-6)
    }
}
