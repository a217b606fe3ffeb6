// Each head's diagnostics, triggered for real (an iteration cap of 1, a bound the optimum lies beyond) and read
// through `any FittedClassifier`, as cross-validation holds the model; the same heads on a well-posed problem
// with their defaults report nothing.

import XCTest
import Heads
import LinearAlgebra

final class DiagnosticTests: XCTestCase {
    func testSMOStoppedAtItsIterationCapIsADiagnosticPerPair() throws {
        let fold = try standardisedFold0(try Fixtures.dataset("wine"))
        let capped = try SupportVectorMachine(seed: 1, maxIterations: 1).fitSVM(fold.train, labels: fold.trainLabels, sampleWeights: nil)
        // Three classes, three pairs: every pair's solve stops after one SMO step.
        XCTAssertEqual(capped.diagnostics.map(\.kind), [.iterationLimit, .iterationLimit, .iterationLimit], "\(capped.diagnostics)")
        XCTAssert(capped.diagnostics.allSatisfy { $0.source == "svm-rbf" && $0.message.contains("iteration cap (1)") }, "\(capped.diagnostics)")
        let erased: any FittedClassifier = try Pipeline(steps: [Standardizer()], head: try SupportVectorMachine(seed: 1, maxIterations: 1))
            .fit(fold.train, labels: fold.trainLabels, sampleWeights: nil)
        XCTAssertEqual(erased.diagnostics.count, 3)
        // Still a usable model (libsvm predicts from the capped solution too).
        let p = try capped.predictProba(fold.test)
        for r in 0..<p.rows { XCTAssertEqual(p.row(r).reduce(0, +), 1, accuracy: 1e-9) }

        let converged = try SupportVectorMachine(seed: 1).fitSVM(fold.train, labels: fold.trainLabels, sampleWeights: nil)
        XCTAssertEqual(converged.diagnostics, [])
        XCTAssertThrowsError(try SupportVectorMachine(maxIterations: 0))
    }

    func testGaussianProcessHyperparameterAtItsBoundIsADiagnostic() throws {
        // Standardised breast cancer (two classes), 80 training rows: rows lie a few units apart, so a search box
        // starting at length 50 holds no better length than its lower end, where the optimiser stops.
        let fold = try standardisedFold0(try Fixtures.dataset("breast_cancer"))
        let rows = Array(0..<80)
        let features = fold.train.selectingRows(rows), labels = rows.map { fold.trainLabels[$0] }
        let boxed = try GaussianProcessClassifier(lengthScale: 1, restarts: 0, bounds: 50...1e5)
        let model: any FittedClassifier = try boxed.fit(features, labels: labels, sampleWeights: nil)
        let atBound = model.diagnostics.filter { $0.kind == .hyperparameterAtBound }
        XCTAssert(atBound.contains { $0.parameter == "length scale" && $0.bound == .lower }, "\(model.diagnostics)")
        XCTAssert(atBound.allSatisfy { $0.source == "gaussian-process" && $0.classLabel == nil }, "\(atBound)")   // two classes: one problem
        let fitted = try XCTUnwrap(model as? GaussianProcessClassifier.Fitted)
        XCTAssertEqual(fitted.models[0].lengthScale, 50, accuracy: 1e-6)

        // Three classes: one problem per class, each diagnostic names its class.
        let wine = try standardisedFold0(try Fixtures.dataset("wine"))
        let perClass = try boxed.fitGaussianProcess(wine.train, labels: wine.trainLabels, sampleWeights: nil)
        let classesAtBound = Set(perClass.diagnostics.filter { $0.kind == .hyperparameterAtBound && $0.parameter == "length scale" }.compactMap(\.classLabel))
        XCTAssertEqual(classesAtBound, Set(wine.trainLabels), "\(perClass.diagnostics)")
        let key = try XCTUnwrap(perClass.diagnostics.first { $0.kind == .hyperparameterAtBound }).key
        XCTAssert(key.headline().contains("vs rest"), key.headline())

        // The default box (1e-5 ... 1e5) holds the optimum of the same problem: nothing to report.
        let free = try GaussianProcessClassifier(restarts: 0).fit(features, labels: labels, sampleWeights: nil)
        XCTAssertEqual(free.diagnostics, [], "\(free.diagnostics)")
    }

    func testDiagnosticsRoundTripThroughJSON() throws {
        let diagnostic = Diagnostic(kind: .hyperparameterAtBound, source: "gaussian-process", classLabel: -1, parameter: "length scale",
                                    bound: .upper, message: "gaussian-process: length scale 1e+05 is close to its upper bound 1e+05")
        let decoded = try JSONDecoder().decode([Diagnostic].self, from: try JSONEncoder().encode([diagnostic]))
        XCTAssertEqual(decoded, [diagnostic])
        XCTAssertEqual(decoded[0].key, diagnostic.key)
        // The key ignores the numbers: the same warning in another fold groups with this one.
        let other = Diagnostic(kind: .hyperparameterAtBound, source: "gaussian-process", classLabel: -1, parameter: "length scale",
                               bound: .upper, message: "gaussian-process: length scale 9.99e+04 is close to its upper bound 1e+05")
        XCTAssertEqual(other.key, diagnostic.key)
        XCTAssertNotEqual(other, diagnostic)
    }
}
