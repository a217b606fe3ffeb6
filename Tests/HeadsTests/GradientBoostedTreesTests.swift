// GradientBoostedTrees against scikit-learn's HistGradientBoostingClassifier: prediction agreement and
// probabilities at matching settings on every fold, macro F1 on 8 folds, learning on ~50 rows, early stopping
// that keeps the best prefix of rounds on its inner split.

import XCTest
import LinearAlgebra
import Heads
import TestSupport

final class GradientBoostedTreesTests: XCTestCase {
    /// HistGradientBoosting on every fold of both data sets (hist_gradient_boosting_folds.json), standardised inside
    /// each fold as the generator does. Predictions: at least 99% agreement over all test rows (the style's bar for
    /// trees). Probabilities, pooled over every test row and class: mean absolute difference at most 0.01 and
    /// relative L2 error at most 0.05. (The trees are not scikit-learn's split for split: on breast cancer a few
    /// percent of the rows differ by more than 0.05, up to ~0.3 on one row; the fraction within 0.05 is printed.)
    func testAgreesWithHistGradientBoostingAtMatchingSettingsOnEveryFold() throws {
        struct Reference: Decodable {
            struct Settings: Decodable { let learningRate: Double; let rounds: Int; let maxLeafNodes: Int; let minSamplesLeaf: Int; let l2: Double }
            struct Fold: Decodable { let prediction: [Int]; let probability: [[Double]] }
            let settings: Settings
            let datasets: [String: [Fold]]
        }
        let reference = try Fixtures.decode(Reference.self, "hist_gradient_boosting_folds")
        let settings = reference.settings
        let head = try GradientBoostedTrees(learningRate: settings.learningRate, rounds: settings.rounds, maxLeafNodes: settings.maxLeafNodes,
                                            minSamplesLeaf: settings.minSamplesLeaf, l2: settings.l2, classWeight: .none)
        for name in ["breast_cancer", "wine"] {
            let data = try Fixtures.dataset(name)
            let folds = try XCTUnwrap(reference.datasets[name])
            XCTAssertEqual(folds.count, data.folds.count, name)
            var rows = 0, agreeing = 0, closeRows = 0
            var worst = compare([0.0], [0.0])
            var ourValues = [Double](), referenceValues = [Double]()
            for (index, expected) in folds.enumerated() {
                let (train, test) = data.split(index)
                let scaler = try Standardizer().fitStandardizer(data.matrix.selectingRows(train))
                let model = try head.fitTrees(scaler.transform(data.matrix.selectingRows(train)), labels: train.map { data.labels[$0] },
                                              sampleWeights: nil)
                let testMatrix = scaler.transform(data.matrix.selectingRows(test))
                let predicted = try model.predict(testMatrix)
                let probabilities = try model.predictProba(testMatrix)
                XCTAssertEqual(predicted.count, expected.prediction.count, "\(name) fold \(index)")
                rows += predicted.count
                agreeing += zip(predicted, expected.prediction).filter { $0 == $1 }.count
                for (row, expectedRow) in expected.probability.enumerated() {
                    let ours = (0..<probabilities.columns).map { probabilities[row, $0] }
                    ourValues += ours
                    referenceValues += expectedRow
                    let comparison = compare(ours, expectedRow)
                    if comparison.maxAbsoluteDifference <= 0.05 { closeRows += 1 }
                    if comparison.maxAbsoluteDifference > worst.maxAbsoluteDifference { worst = comparison }
                }
            }
            let agreement = Double(agreeing) / Double(rows), close = Double(closeRows) / Double(rows)
            let pooled = compare(ourValues, referenceValues)
            let meanDifference = zip(ourValues, referenceValues).reduce(0.0) { $0 + abs($1.0 - $1.1) } / Double(ourValues.count)
            let message = String(format: "trees %@: agreement %.4f with HistGradientBoosting over %d rows of %d folds; "
                                 + "probabilities: mean |diff| %.4g, %@; within 0.05 on %.4f of the rows (worst row: %@)",
                                 name, agreement, rows, folds.count, meanDifference, pooled.description, close, worst.description)
            print(message)
            XCTAssertGreaterThanOrEqual(agreement, 0.99, message)
            XCTAssertLessThanOrEqual(meanDifference, 0.01, message)
            XCTAssertLessThanOrEqual(pooled.relativeL2Error, 0.05, message)
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

    /// A value's bin is the number of thresholds strictly below it, also where a midpoint of two adjacent doubles rounds
    /// onto one of them (the bins are taken from the sorted order on the fast path; here against the definition), on
    /// one thread and on the two-thread path of a large matrix.
    func testBinsCountTheThresholdsBelowEvenWhereMidpointsRound() throws {
        let a = 1.0.nextUp, b = a.nextUp, c = 1.0, d = c.nextUp   // (a + b) / 2 rounds to b, (c + d) / 2 to c
        XCTAssertEqual((a + b) * 0.5, b)
        XCTAssertEqual((c + d) * 0.5, c)
        // The second list's +-1e308 (midpoints that could overflow) take the binary search instead.
        for (column, copies) in [([b, -3, a, 7, d, c, 2.5, a], 1), ([b, -3, a, 7, d, c, 2.5, a], 4200),
                                 ([b, -3, a, 7, d, c, 2.5, a, 1e308, -1e308], 1)] {
            // `copies` columns of the same values, in row-major order: 8 x 4200 takes the two-thread path.
            let x = Matrix(rows: column.count, columns: copies, values: column.flatMap { [Double](repeating: $0, count: copies) })
            let binner = FeatureBinner(x, maxBins: 255)
            for f in [0, copies - 1] {
                let t = binner.thresholds[f]
                XCTAssertEqual(t.count, Set(column).count - 1)
                for (r, v) in column.enumerated() {
                    XCTAssertEqual(Int(binner.binned[f * column.count + r]), t.filter { $0 < v }.count, "row \(r), value \(v), \(copies) columns")
                }
            }
        }
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
        let stopping = GradientBoostedTrees.EarlyStopping(validationFraction: 0.2, patience: 5)
        let stopped = try GradientBoostedTrees(rounds: 500, earlyStopping: stopping).fitTrees(x, labels: noise, sampleWeights: nil)
        XCTAssertLessThanOrEqual(stopped.trees.count + stopping.patience, 500, "stopped only at the round limit")
        // The kept trees are the best prefix on the held-out rows: the same fit capped at that many rounds grows
        // the same rounds on the same inner split, finds its best at its last round and keeps them all, the same
        // trees. (Keeping the rounds up to the stop, or any other prefix, makes the capped fit keep fewer.)
        let capped = try GradientBoostedTrees(rounds: stopped.trees.count, earlyStopping: stopping).fitTrees(x, labels: noise, sampleWeights: nil)
        XCTAssertEqual(capped.trees.count, stopped.trees.count, "early stopping did not keep the best prefix of rounds")
        XCTAssertEqual(try capped.predictProba(x), try stopped.predictProba(x))
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

/// The presorted split search (PresortedSplitSearch.swift) against the histogram scan, its plain twin: the same trees,
/// split for split and leaf value for leaf value, on every kind of fit that takes it (at most 64 rows without ties: compact
/// one-byte lists, partitioned with AVX-512 byte compress and with the plain loop; at most 64 rows with ties: node masks
/// over the root's lists; more rows: partitioned lists; continuous features or ties within bins; binary and multi-class;
/// maxDepth, minSamplesLeaf, early stopping) and on fits that do not (many rows per bin, featureFraction < 1).
final class PresortedSplitSearchTests: XCTestCase {
    /// rows x features of Gaussian-ish values from a seeded generator, labels from a few of the features plus noise;
    /// `levels` > 0 rounds every value to one of about that many levels (ties within bins).
    func synthetic(rows: Int, features: Int, classes: Int, levels: Int, seed: UInt64) -> (Matrix, [Int]) {
        var rng = SplitMix64(seed: seed)
        func uniform() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }
        var x = Matrix(rows: rows, columns: features)
        var labels = [Int]()
        for r in 0..<rows {
            for f in 0..<features {
                var v = (uniform() + uniform() + uniform() - 1.5) * 2
                if levels > 0 { v = (v * Double(levels) / 6).rounded() }
                x[r, f] = v
            }
            let score = x[r, 0] + 0.5 * x[r, 1] - x[r, 2] + 0.8 * (uniform() - 0.5)
            labels.append(r < classes ? r : min(classes - 1, max(0, Int((score + 1.5) / 3 * Double(classes)))))
        }
        return (x, labels)
    }

    func assertSameTrees(_ a: GradientBoostedTrees.Fitted, _ b: GradientBoostedTrees.Fitted, _ message: String) {
        XCTAssertEqual(a.trees.count, b.trees.count, message)
        var splits = 0
        for (roundA, roundB) in zip(a.trees, b.trees) {
            for (treeA, treeB) in zip(roundA, roundB) {
                XCTAssertEqual(treeA.feature, treeB.feature, message)
                XCTAssertEqual(treeA.threshold.map(\.bitPattern), treeB.threshold.map(\.bitPattern), message)
                XCTAssertEqual(treeA.left, treeB.left, message)
                XCTAssertEqual(treeA.value.map(\.bitPattern), treeB.value.map(\.bitPattern), message)
                splits += treeA.left.filter { $0 >= 0 }.count
            }
        }
        XCTAssertGreaterThan(splits, a.trees.count, "\(message): the trees hardly split, the comparison shows little")
    }

    func testSameTreesAsTheHistogramScan() throws {
        struct Case { let name: String; let rows: Int; let features: Int; let classes: Int; let levels: Int }
        let cases = [
            Case(name: "54 x 512 continuous, 3 classes (compact lists; large nodes on two threads)", rows: 54, features: 512, classes: 3, levels: 0),
            Case(name: "60 x 203 continuous, binary (compact lists; padded block)", rows: 60, features: 203, classes: 2, levels: 0),
            Case(name: "64 x 64 continuous, binary (compact lists, 64 rows: whole-vector masks)", rows: 64, features: 64, classes: 2, levels: 0),
            Case(name: "56 x 300 ties, 3 classes (masks, runs of equal bins)", rows: 56, features: 300, classes: 3, levels: 40),
            Case(name: "90 x 301 continuous, 3 classes (partitioned lists)", rows: 90, features: 301, classes: 3, levels: 0),
            Case(name: "120 x 150 ties, binary (partitioned lists, runs of equal bins)", rows: 120, features: 150, classes: 2, levels: 90),
            Case(name: "200 x 20 ties, 3 classes (histograms: many rows per bin)", rows: 200, features: 20, classes: 3, levels: 8),
        ]
        for (index, c) in cases.enumerated() {
            let (x, labels) = synthetic(rows: c.rows, features: c.features, classes: c.classes, levels: c.levels, seed: UInt64(index + 1))
            let settings: [(String, (GradientBoostedTrees.SplitSearch) throws -> GradientBoostedTrees)] = [
                ("defaults", { try GradientBoostedTrees(rounds: 12, splitSearch: $0) }),
                ("maxDepth 3, minSamplesLeaf 1, no class weights", {
                    try GradientBoostedTrees(rounds: 8, maxLeafNodes: 8, maxDepth: 3, minSamplesLeaf: 1, classWeight: .none, splitSearch: $0) }),
                ("maxLeafNodes 4 (the leaf limit binds: best-first order decides which leaves split)", {
                    try GradientBoostedTrees(rounds: 8, maxLeafNodes: 4, splitSearch: $0) }),
                ("early stopping", { try GradientBoostedTrees(rounds: 15, earlyStopping: .init(validationFraction: 0.2, patience: 3), splitSearch: $0) }),
                ("featureFraction 0.5", { try GradientBoostedTrees(rounds: 6, featureFraction: 0.5, seed: 3, splitSearch: $0) }),
            ]
            for (setting, make) in settings {
                let message = "\(c.name), \(setting)"
                let histograms = try make(.histograms).fitTrees(x, labels: labels, sampleWeights: nil)
                for search in [GradientBoostedTrees.SplitSearch.automatic, .automaticWithoutVectorCompress] {
                    let presorted = try make(search).fitTrees(x, labels: labels, sampleWeights: nil)
                    assertSameTrees(presorted, histograms, "\(message), \(search)")
                    XCTAssertEqual(try presorted.predictProba(x), try histograms.predictProba(x), "\(message), \(search)")
                }
            }
        }
    }

    /// `.automatic` above runs the AVX-512 byte-compress partition only where the CPU has it; say so where it does not.
    func testVectorCompressPartitionIsAvailableHere() throws {
        try XCTSkipUnless(GradientBoostedTrees.hasVectorCompress,
                          "skipped: no AVX-512 VBMI2/BITALG; the compact lists of small fits were partitioned by the plain loop only")
    }
}
