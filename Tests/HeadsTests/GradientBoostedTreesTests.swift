// GradientBoostedTrees against scikit-learn's HistGradientBoostingClassifier: prediction agreement at
// matching settings, macro F1 on 8 folds, learning on ~50 rows, early stopping on an inner split.

import XCTest
import LinearAlgebra
import Heads
import TestSupport

final class GradientBoostedTreesTests: XCTestCase {
    func testAgreesWithHistGradientBoostingAtMatchingSettings() throws {
        let results = try Fixtures.sklearn()
        for name in ["breast_cancer", "wine"] {
            let data = try Fixtures.dataset(name)
            let reference = try XCTUnwrap(results.datasets[name]).histGradientBoostingFold0
            let fold = try standardisedFold0(data)
            let head = try GradientBoostedTrees(learningRate: reference.learningRate, rounds: reference.rounds, maxLeafNodes: reference.maxLeafNodes,
                                                minSamplesLeaf: reference.minSamplesLeaf, l2: reference.l2, classWeight: .none)
            let model = try head.fitTrees(fold.train, labels: fold.trainLabels, sampleWeights: nil)
            let predicted = try model.predict(fold.test)
            let agreement = Double(zip(predicted, reference.prediction).filter { $0 == $1 }.count) / Double(predicted.count)
            let p = compare(try model.predictProba(fold.test).values, reference.probability.flatMap { $0 })
            print(String(format: "trees %@: agreement %.4f with HistGradientBoosting over %d rows; probabilities %@", name, agreement, predicted.count, p.description))
            XCTAssertGreaterThanOrEqual(agreement, 0.98, name)
        }
    }

    func testMacroF1MatchesHistGradientBoostingOnEightFolds() throws {
        let results = try Fixtures.sklearn()
        for name in ["breast_cancer", "wine"] {
            let data = try Fixtures.dataset(name)
            let ours = try crossValidatedMacroF1(GradientBoostedTrees(), on: data)
            assertMacroF1(ours, reference: try XCTUnwrap(results.datasets[name]?.macroF1["hist_gradient_boosting"]), head: "gradient-boosted-trees", dataset: name)
        }
    }

    func testBinningUsesMidpointsOfDistinctValuesAndAtMost255Bins() throws {
        let few = FeatureBinner(Matrix(rows: 4, columns: 1, values: [3, 1, 2, 2]), maxBins: 255)
        XCTAssertEqual(few.thresholds[0], [1.5, 2.5])
        XCTAssertEqual(few.binned, [2, 0, 1, 1])
        let many = FeatureBinner(Matrix(rows: 1000, columns: 1, values: (0..<1000).map { Double($0) }), maxBins: 255)
        XCTAssertEqual(many.binCount(0), 255)
        XCTAssertEqual(Set(many.binned).count, 255)
    }

    func testLearnsOnFiftyRowsAndEarlyStoppingUsesOnlyTrainingRows() throws {
        let data = try Fixtures.dataset("wine")
        // 50 rows (every third training row of fold 0, all classes); scikit-learn's default min_samples_leaf 20 would barely split.
        let train = data.split(0).train
        let rows = Array(stride(from: 0, to: train.count, by: 3).map { train[$0] }.prefix(50))
        XCTAssertEqual(Set(rows.map { data.labels[$0] }).count, 3)
        let x = data.matrix.selectingRows(rows), labels = rows.map { data.labels[$0] }
        let model = try GradientBoostedTrees(rounds: 50).fitTrees(x, labels: labels, sampleWeights: nil)
        XCTAssertGreaterThan(model.trees[0].map(\.leafCount).max() ?? 0, 2)
        let training = Double(zip(try model.predict(x), labels).filter { $0 == $1 }.count) / 50
        XCTAssertGreaterThan(training, 0.95)
        // Labels unrelated to the features: the held-out loss stops improving, so boosting stops early.
        let noise = (0..<50).map { $0 % 3 }
        let stopped = try GradientBoostedTrees(rounds: 500, earlyStopping: .init(validationFraction: 0.2, patience: 5)).fitTrees(x, labels: noise, sampleWeights: nil)
        XCTAssertLessThan(stopped.trees.count, 500)
        XCTAssertGreaterThanOrEqual(stopped.trees.count, 1)
    }

    func testFeatureSubsamplingIsDeterministicPerSeed() throws {
        let fold = try standardisedFold0(try Fixtures.dataset("breast_cancer"))
        let a = try GradientBoostedTrees(rounds: 10, featureFraction: 0.3, seed: 1).fitTrees(fold.train, labels: fold.trainLabels, sampleWeights: nil)
        let b = try GradientBoostedTrees(rounds: 10, featureFraction: 0.3, seed: 1).fitTrees(fold.train, labels: fold.trainLabels, sampleWeights: nil)
        let c = try GradientBoostedTrees(rounds: 10, featureFraction: 0.3, seed: 2).fitTrees(fold.train, labels: fold.trainLabels, sampleWeights: nil)
        XCTAssertEqual(try a.predictProba(fold.test), try b.predictProba(fold.test))
        XCTAssertNotEqual(try a.predictProba(fold.test), try c.predictProba(fold.test))
    }
}
