// SupportVectorMachine against scikit-learn's SVC (libsvm): decision values at fixed C and gamma
// (rtol 1e-3), macro F1 on the 8 folds, and probabilities that respect the class weights.

import XCTest
import LinearAlgebra
import Heads
import TestSupport

final class SupportVectorMachineTests: XCTestCase {
    func testDecisionValuesMatchSVCAtFixedHyperparameters() throws {
        let results = try Fixtures.sklearn()
        for name in ["breast_cancer", "wine"] {
            let data = try Fixtures.dataset(name)
            let fold = try standardisedFold0(data)
            for reference in try XCTUnwrap(results.datasets[name]).svcDecision {
                let kernel: SupportVectorMachine.Kernel = reference.kernel == "linear" ? .linear : .rbf(gamma: .value(reference.gamma ?? 0))
                let head = try SupportVectorMachine(C: reference.C, kernel: kernel,
                                                    classWeight: reference.classWeight == "balanced" ? .balanced : .none,
                                                    tolerance: 1e-10, probability: .platt)
                let model = try head.fitSVM(fold.train, labels: fold.trainLabels, sampleWeights: nil)
                let ours = model.decisionFunction(fold.test)
                let expected = reference.decision.flatMap { $0 }
                let check = allClose(ours.values, expected, relativeTolerance: 1e-3, absoluteTolerance: 1e-6)
                let supportCount = Set(model.pairs.flatMap { pair in (0..<pair.supportVectors.rows).map { Array(pair.supportVectors.row($0)) } }).count
                print("svm \(name) \(reference.kernel) C=\(reference.C) gamma=\(reference.gamma.map { "\($0)" } ?? "-") \(reference.classWeight): \(check.message); support vectors \(supportCount) vs \(reference.supportCount)")
                XCTAssert(check.ok, "\(name) \(reference.kernel) C=\(reference.C): \(check.message)")
                XCTAssertEqual(supportCount, reference.supportCount)
            }
        }
    }

    func testMacroF1MatchesSVCOnEightFolds() throws {
        let results = try Fixtures.sklearn()
        for name in ["breast_cancer", "wine"] {
            let data = try Fixtures.dataset(name)
            for (key, kernel) in [("svm_linear", SupportVectorMachine.Kernel.linear), ("svm_rbf", .rbf(gamma: .scale))] {
                let ours = try crossValidatedMacroF1(SupportVectorMachine(kernel: kernel), on: data)
                assertMacroF1(ours, reference: try XCTUnwrap(results.datasets[name]?.macroF1[key]), head: key, dataset: name)
            }
        }
    }

    /// The ANCHORS trap: on an imbalanced set, argmax of Platt probabilities drifts to the majority class.
    /// Decision-consistent probabilities must agree with the class-weighted decision function.
    func testDecisionConsistentProbabilitiesFollowTheWeightedDecisionOnImbalancedData() throws {
        let data = try Fixtures.dataset("breast_cancer")
        // Imbalanced, hard: all 357 benign rows and every 12th malignant row (18), 5 noisy columns only.
        let rows = (0..<data.labels.count).filter { data.labels[$0] == 1 } + (0..<data.labels.count).filter { data.labels[$0] == 0 }.enumerated().filter { $0.offset % 12 == 0 }.map(\.element)
        var x = data.matrix.selectingRows(rows).selectingColumns([0, 1, 9, 11, 14])
        var rng = SplitMix64(seed: 4)
        let scaler = try Standardizer().fitStandardizer(x)
        x = scaler.transform(x)
        for i in 0..<x.values.count { x.values[i] += 1.5 * (Double(rng.next() >> 11) * 0x1p-53 - 0.5) }
        let labels = rows.map { data.labels[$0] }
        var agreementPlatt = 0, agreementConsistent = 0, minorityPlatt = 0, minorityConsistent = 0, minorityVotes = 0
        for probability in [SupportVectorMachine.Probability.platt, .decisionConsistent] {
            let model = try SupportVectorMachine(C: 1, kernel: .rbf(gamma: .scale), probability: probability).fitSVM(x, labels: labels, sampleWeights: nil)
            let votes = model.predictByVotes(x), predicted = try model.predict(x)
            let p = try model.predictProba(x)
            XCTAssertFalse(p.values.contains { !$0.isFinite })
            let agreement = zip(votes, predicted).filter { $0 == $1 }.count
            minorityVotes = votes.filter { $0 == 0 }.count
            if probability == .platt { agreementPlatt = agreement; minorityPlatt = predicted.filter { $0 == 0 }.count }
            else { agreementConsistent = agreement; minorityConsistent = predicted.filter { $0 == 0 }.count }
        }
        print("imbalanced 357/\(labels.count - 357): minority predicted by weighted decision \(minorityVotes), by Platt argmax \(minorityPlatt) (agreement \(agreementPlatt)/\(labels.count)), by decision-consistent argmax \(minorityConsistent) (agreement \(agreementConsistent)/\(labels.count))")
        XCTAssertEqual(agreementConsistent, labels.count, "binary decision-consistent probabilities must agree with the decision function")
        XCTAssertLessThan(minorityPlatt, minorityVotes, "expected the Platt trap to show on this set (fewer minority predictions)")
    }

    func testMultiClassDecisionConsistentProbabilitiesAgreeWithVotes() throws {
        let data = try Fixtures.dataset("wine")
        let fold = try standardisedFold0(data)
        let model = try SupportVectorMachine().fitSVM(fold.train, labels: fold.trainLabels, sampleWeights: nil)
        let all = Matrix(rows: fold.train.rows + fold.test.rows, columns: fold.train.columns, values: fold.train.values + fold.test.values)
        let agreement = zip(model.predictByVotes(all), try model.predict(all)).filter { $0 == $1 }.count
        XCTAssertGreaterThanOrEqual(Double(agreement) / Double(all.rows), 0.99)
        let p = try model.predictProba(all)
        for r in 0..<p.rows { XCTAssertEqual(p.row(r).reduce(0, +), 1, accuracy: 1e-9) }
    }

    func testCouplingRecoversConsistentPairwiseProbabilities() throws {
        // r_ij = p_i / (p_i + p_j) for a true p: method 2 returns p.
        let truth = [0.5, 0.3, 0.2]
        var r = Matrix(rows: 3, columns: 3)
        for i in 0..<3 { for j in 0..<3 where i != j { r[i, j] = truth[i] / (truth[i] + truth[j]) } }
        XCTAssert(allClose(coupledProbabilities(r), truth, relativeTolerance: 0, absoluteTolerance: 1e-3).ok)
    }

    func testKernelCacheEvictsAndStillSolves() throws {
        let fold = try standardisedFold0(try Fixtures.dataset("breast_cancer"))
        let big = try SupportVectorMachine(C: 1, kernel: .rbf(gamma: .value(0.05)), classWeight: .none, tolerance: 1e-6).fitSVM(fold.train, labels: fold.trainLabels, sampleWeights: nil)
        let tiny = try SupportVectorMachine(C: 1, kernel: .rbf(gamma: .value(0.05)), classWeight: .none, tolerance: 1e-6, cacheMegabytes: 1).fitSVM(fold.train.selectingRows(Array(0..<fold.train.rows)), labels: fold.trainLabels, sampleWeights: nil)
        XCTAssert(allClose(big.decisionFunction(fold.test).values, tiny.decisionFunction(fold.test).values, relativeTolerance: 1e-9, absoluteTolerance: 1e-12).ok)
    }

    /// The linear kernel through the on-demand cache (rows computed from the features on demand, least recently used
    /// evicted) against the whole gathered matrix, and both against scikit-learn's decision values.
    func testLinearKernelCacheAgreesWithTheDenseMatrix() throws {
        let results = try Fixtures.sklearn()
        let fold = try standardisedFold0(try Fixtures.dataset("breast_cancer"))
        guard let reference = try XCTUnwrap(results.datasets["breast_cancer"]).svcDecision.first(where: { $0.kernel == "linear" }) else {
            return XCTFail("no linear SVC fixture")
        }
        let weight: ClassWeight = reference.classWeight == "balanced" ? .balanced : .none
        let dense = try SupportVectorMachine(C: reference.C, kernel: .linear, classWeight: weight, tolerance: 1e-10, probability: .platt)
            .fitSVM(fold.train, labels: fold.trainLabels, sampleWeights: nil)
        let cached = try SupportVectorMachine(C: reference.C, kernel: .linear, classWeight: weight, tolerance: 1e-10, probability: .platt, cacheMegabytes: 1)
            .fitSVM(fold.train, labels: fold.trainLabels, sampleWeights: nil)
        let agreement = allClose(cached.decisionFunction(fold.test).values, dense.decisionFunction(fold.test).values, relativeTolerance: 1e-9, absoluteTolerance: 1e-12)
        XCTAssert(agreement.ok, agreement.message)
        let check = allClose(cached.decisionFunction(fold.test).values, reference.decision.flatMap { $0 }, relativeTolerance: 1e-3, absoluteTolerance: 1e-6)
        XCTAssert(check.ok, check.message)
    }
}
