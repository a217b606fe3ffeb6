import XCTest
import Evaluation
import FeatureStore
import Heads
import LinearAlgebra
import TestSupport

/// A tiny head for tests: softmax of negative squared distances to the class centroids, scaled by
/// `sharpness` (the grid parameter); a class-count prior can be mixed in to test collapse.
struct NearestCentroid: Classifier {
    let sharpness: Double
    var name: String { "nearest-centroid" }
    struct Fitted: FittedClassifier {
        let classes: [Int]
        let centroids: [[Double]]
        let sharpness: Double
        func predictProba(_ features: Matrix) -> Matrix {
            var out = Matrix(rows: features.rows, columns: classes.count)
            for r in 0..<features.rows {
                let scores = centroids.map { c in -sharpness * zip(features.row(r), c).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } }
                let top = scores.max() ?? 0
                let e = scores.map { Foundation.exp($0 - top) }
                let total = e.reduce(0, +)
                for k in 0..<classes.count { out[r, k] = e[k] / total }
            }
            return out
        }
    }
    func fit(_ features: Matrix, labels: [Int], sampleWeights: [Double]?) throws -> any FittedClassifier {
        let classes = Array(Set(labels)).sorted()
        let centroids = classes.map { k -> [Double] in
            let rows = labels.indices.filter { labels[$0] == k }
            return (0..<features.columns).map { c in rows.reduce(0) { $0 + features[$1, c] } / Double(rows.count) }
        }
        return Fitted(classes: classes, centroids: centroids, sharpness: sharpness)
    }
}

/// Always predicts the training majority with certainty: an uninformative head.
struct Majority: Classifier {
    var name: String { "majority" }
    struct Fitted: FittedClassifier {
        let classes: [Int]
        let majority: Int
        func predictProba(_ features: Matrix) -> Matrix {
            var out = Matrix(rows: features.rows, columns: classes.count)
            for r in 0..<features.rows { out[r, majority] = 1 }
            return out
        }
    }
    func fit(_ features: Matrix, labels: [Int], sampleWeights: [Double]?) throws -> any FittedClassifier {
        let classes = Array(Set(labels)).sorted()
        let counts = classes.map { k in labels.filter { $0 == k }.count }
        return Fitted(classes: classes, majority: counts.firstIndex(of: counts.max() ?? 0) ?? 0)
    }
}

/// Three Gaussian blobs in 4 dimensions, 30/12/10 rows, ids `img_<n>`; plus 6 unlabelled rows.
func blobs(seed: UInt64 = 1, separation: Double = 3) -> (set: FeatureSet, labels: LabelTable) {
    var generator = SplitMix64(seed: seed)
    func gaussian() -> Double {
        let u = Double(generator.next() >> 11) / Double(1 << 53) + 1e-12, v = Double(generator.next() >> 11) / Double(1 << 53)
        return (-2 * Foundation.log(u)).squareRoot() * Foundation.cos(2 * Double.pi * v)
    }
    let classes = [-1, 0, 1]
    let counts = [30, 12, 10]
    var labels: [Int] = []
    for (k, n) in zip(classes, counts) { labels += [Int](repeating: k, count: n) }
    labels += [-1, 0, 1, -1, 0, 1]   // the unlabelled rows' hidden truth
    var values: [Float] = []
    for label in labels {
        for d in 0..<4 { values.append(Float(gaussian() + (d == label + 1 ? separation : 0))) }
    }
    let ids = labels.indices.map { "img_\(1000 - $0)" }
    var csv = "id,malignant\n"
    for row in 0..<52 { csv += "\(1000 - row),\(labels[row])\n" }
    let table = try! LabelTable.parse(csv, file: "labels.csv")   // test data, not user input
    return (FeatureSet(manifest: nil, ids: ids, shape: [labels.count, 4], values: values), table)
}

final class CrossValidationTests: XCTestCase {
    let grid = HeadSpecification(name: "centroid", candidates: [
        HeadCandidate(setting: "sharpness=0.01", classifier: NearestCentroid(sharpness: 0.01)),
        HeadCandidate(setting: "sharpness=1", classifier: NearestCentroid(sharpness: 1))])
    let majority = HeadSpecification(name: "majority", candidates: [HeadCandidate(setting: "-", classifier: Majority())])

    func testNestedCrossValidationScoresEveryRowOncePerRepeat() throws {
        let (set, labels) = blobs()
        let prepared = try Comparison.prepare(featureSets: [set], labels: labels)
        XCTAssertEqual(prepared.unlabelledIDs, ["943", "944", "945", "946", "947", "948"])
        let settings = CrossValidationSettings(foldCount: 5, repeats: 2, seed: 3, innerFoldCount: 3, threads: 2)
        let (results, outcomes) = try Comparison.run(prepared, heads: [grid, majority], settings: settings,
                                                     metaLearner: NearestCentroid(sharpness: 1), predictUnlabelled: true)
        XCTAssertEqual(outcomes.count, 3)   // 2 heads and the stack of both (one feature set: no mean)
        for outcome in outcomes {
            XCTAssertEqual(outcome.folds.count, 10)
            for repeatIndex in 0..<2 {
                XCTAssertEqual(outcome.folds.filter { $0.fold.repeatIndex == repeatIndex }.flatMap(\.fold.testRows).sorted(), Array(0..<52))
            }
            for fold in outcome.folds {
                for r in 0..<fold.testProbabilities.rows {
                    let sum = (0..<3).reduce(0.0) { $0 + fold.testProbabilities[r, $1] }
                    XCTAssertEqual(sum, 1, accuracy: 1e-9)
                }
            }
        }
        let best = try XCTUnwrap(results.rows.first)
        XCTAssertTrue(best.name.contains("centroid") || best.name.contains("stack"), best.name)
        XCTAssertGreaterThan(best.macroF1.mean, 0.8)
        let majorityRow = try XCTUnwrap(results.rows.first { $0.head == "majority" })
        XCTAssertEqual(majorityRow.pooled.neverPredicted, [0, 1])
        XCTAssertEqual(majorityRow.pooled.confusion.map { $0.reduce(0, +) }, [60, 24, 20])   // 2 repeats pooled
        XCTAssertEqual(majorityRow.folds.count, 10)
        XCTAssertEqual(results.rows.map(\.macroF1.mean), results.rows.map(\.macroF1.mean).sorted(by: >))
        // The fold models predict the unlabelled rows.
        let unlabelled = try XCTUnwrap(outcomes[0].averagedUnlabelledProbabilities)
        XCTAssertEqual(unlabelled.rows, 6)
        // Same seed, same numbers.
        let again = try Comparison.run(prepared, heads: [grid, majority], settings: settings, metaLearner: NearestCentroid(sharpness: 1))
        XCTAssertEqual(again.results.rows.map(\.macroF1), results.rows.map(\.macroF1))
    }

    func testInnerSelectionUsesTrainingRowsOnly() throws {
        // A head whose fit records the rows it saw: no outer test row may reach any fit of its fold.
        final class Recorder: @unchecked Sendable {
            let lock = NSLock(); var seen: [[Double]] = []
            func add(_ m: Matrix) { lock.lock(); for r in 0..<m.rows { seen.append(Array(m.row(r))) }; lock.unlock() }
        }
        struct Spy: Classifier {
            let recorder: Recorder
            var name: String { "spy" }
            func fit(_ features: Matrix, labels: [Int], sampleWeights: [Double]?) throws -> any FittedClassifier {
                recorder.add(features)
                return try NearestCentroid(sharpness: 1).fit(features, labels: labels, sampleWeights: nil)
            }
        }
        let (set, labels) = blobs()
        let prepared = try Comparison.prepare(featureSets: [set], labels: labels)
        let data = prepared.featureSets[0].data
        let folds = try StratifiedFolds.make(labels: data.labels, foldCount: 4, seed: 0)
        for fold in folds {
            let recorder = Recorder()
            let head = HeadSpecification(name: "spy", candidates: [HeadCandidate(setting: "a", classifier: Spy(recorder: recorder)),
                                                                    HeadCandidate(setting: "b", classifier: Spy(recorder: recorder))])
            _ = try CrossValidation.run(name: "spy", featureSet: "x", head: head, data: data, folds: [fold],
                                        settings: CrossValidationSettings(foldCount: 4, innerFoldCount: 3, threads: 1))
            let testRows = Set(fold.testRows.map { Array(data.labelled.row($0)) })
            XCTAssertFalse(recorder.seen.contains { testRows.contains($0) }, "an outer test row reached a fit")
            XCTAssertEqual(recorder.seen.count, 2 * 2 * fold.trainRows.count + fold.trainRows.count)   // 2 candidates × inner fits + refit
        }
    }

    /// A single-candidate head runs its inner cross-validation only when a stacking row needs its inner
    /// probabilities; `compare` says when it skips it; a run slower than the threshold reports its folds.
    func testSingleCandidateHeadSkipsInnerCrossValidationUnlessStackingNeedsIt() throws {
        final class Counter: @unchecked Sendable {
            let lock = NSLock(); var rows = 0
            func add(_ n: Int) { lock.lock(); rows += n; lock.unlock() }
        }
        struct Counting: Classifier {
            let counter: Counter
            var delay: Double = 0
            var name: String { "counting" }
            func fit(_ features: Matrix, labels: [Int], sampleWeights: [Double]?) throws -> any FittedClassifier {
                counter.add(features.rows)
                if delay > 0 { Thread.sleep(forTimeInterval: delay) }
                return try NearestCentroid(sharpness: 1).fit(features, labels: labels, sampleWeights: nil)
            }
        }
        let (set, labels) = blobs()
        let prepared = try Comparison.prepare(featureSets: [set], labels: labels)
        let data = prepared.featureSets[0].data
        let folds = try StratifiedFolds.make(labels: data.labels, foldCount: 4, seed: 0)
        let settings = CrossValidationSettings(foldCount: 4, innerFoldCount: 3, threads: 2)
        let trainRows = folds.map(\.trainRows.count).reduce(0, +)
        for needed in [false, true] {
            let counter = Counter()
            let head = HeadSpecification(name: "one", candidates: [HeadCandidate(setting: "-", classifier: Counting(counter: counter))])
            let outcome = try CrossValidation.run(name: "one", featureSet: "x", head: head, data: data, folds: folds, settings: settings,
                                                  innerProbabilitiesNeeded: needed)
            // Inner CV: 3 inner fits covering 2/3 of the training rows each (2 x trainRows) plus the refit.
            XCTAssertEqual(counter.rows, needed ? 3 * trainRows : trainRows, "inner probabilities needed: \(needed)")
            XCTAssertEqual(outcome.folds.allSatisfy { $0.innerProbabilities != nil }, needed)
        }
        // compare: one head on one feature set makes no stacking row, so the inner CV is skipped and said so.
        let counter = Counter()
        let single = HeadSpecification(name: "one", candidates: [HeadCandidate(setting: "-", classifier: Counting(counter: counter))])
        var lines: [String] = []
        let (results, _) = try Comparison.run(prepared, heads: [single], settings: settings, metaLearner: NearestCentroid(sharpness: 1),
                                              progress: { lines.append($0) })
        XCTAssertEqual(results.rows.count, 1)
        XCTAssertEqual(counter.rows, trainRows)
        XCTAssertTrue(lines.contains { $0.contains("one (one candidate) fit once per outer fold, without inner cross-validation") }, "\(lines)")
        // With a second head a stack of both is made: the single-candidate head runs its inner CV again.
        let withStack = Counter()
        let again = HeadSpecification(name: "one", candidates: [HeadCandidate(setting: "-", classifier: Counting(counter: withStack))])
        lines = []
        let (stacked, _) = try Comparison.run(prepared, heads: [again, grid], settings: settings, metaLearner: NearestCentroid(sharpness: 1),
                                              progress: { lines.append($0) })
        XCTAssertTrue(stacked.rows.contains { $0.name.hasPrefix("stack of all") })
        XCTAssertEqual(withStack.rows, 3 * trainRows)
        XCTAssertFalse(lines.contains { $0.contains("without inner cross-validation") }, "\(lines)")
        // A slow head (4 folds one after the other past the threshold) reports "fold i of n" with an ETA.
        let slow = HeadSpecification(name: "slow", candidates: [HeadCandidate(setting: "-",
            classifier: Counting(counter: Counter(), delay: 0.3))])
        lines = []
        _ = try CrossValidation.run(name: "slow", featureSet: "x", head: slow, data: data, folds: folds,
                                    settings: CrossValidationSettings(foldCount: 4, innerFoldCount: 3, threads: 1),
                                    innerProbabilitiesNeeded: false, reportAfter: 0.5, progress: { lines.append($0) })
        XCTAssertEqual(lines.count, 2, "\(lines)")   // folds 2 and 3 finish past the threshold; the last is the result row
        XCTAssertTrue(lines.allSatisfy { $0.hasPrefix("slow: fold ") && $0.contains(" of 4 done") && $0.contains("ETA") }, "\(lines)")
    }

    func testMeanEnsembleAveragesProbabilitiesFoldByFold() throws {
        let (set, labels) = blobs()
        let (other, _) = blobs(seed: 2)
        let renamed = FeatureSet(manifest: nil, ids: other.ids, shape: other.shape, values: other.values, source: URL(fileURLWithPath: "/b.npy"))
        let first = FeatureSet(manifest: nil, ids: set.ids, shape: set.shape, values: set.values, source: URL(fileURLWithPath: "/a.npy"))
        let prepared = try Comparison.prepare(featureSets: [first, renamed], labels: labels)
        let settings = CrossValidationSettings(foldCount: 4, repeats: 1, seed: 0, innerFoldCount: 3, threads: 1)
        let (results, outcomes) = try Comparison.run(prepared, heads: [grid, majority], settings: settings, metaLearner: NearestCentroid(sharpness: 1))
        let names = Set(results.rows.map(\.name))
        XCTAssertTrue(names.isSuperset(of: ["a / centroid", "b / centroid", "mean of 2 feature sets / centroid", "stack of all 4 models",
                                            "stack of 2 feature sets / centroid"]), "\(names)")
        let a = try XCTUnwrap(outcomes.first { $0.name == "a / centroid" })
        let b = try XCTUnwrap(outcomes.first { $0.name == "b / centroid" })
        let mean = try XCTUnwrap(outcomes.first { $0.name == "mean of 2 feature sets / centroid" })
        for index in mean.folds.indices {
            // Weights ∝ max(0, inner macro F1 − chance), from the members' inner out-of-fold probabilities.
            let trainLabels = a.folds[index].fold.trainRows.map { labels.labels[$0] }
            let chance = Ensembles.chanceMacroF1(labels: trainLabels, classes: [-1, 0, 1])
            let margins = try [a, b].map { member -> Double in
                let inner = try XCTUnwrap(member.folds[index].innerProbabilities)
                return max(0, ClassificationMetrics(classes: [-1, 0, 1], truth: trainLabels, probabilities: inner).macroF1 - chance)
            }
            let weights = margins.map { $0 / margins.reduce(0, +) }
            XCTAssertEqual(mean.folds[index].memberWeights ?? [], weights)
            let expected = zip(a.folds[index].testProbabilities.values, b.folds[index].testProbabilities.values).map { weights[0] * $0 + weights[1] * $1 }
            let check = allClose(mean.folds[index].testProbabilities.values, expected, relativeTolerance: 1e-12)
            XCTAssertTrue(check.ok, check.message)
        }
        // Without labels, the plain mean.
        let plain = try Ensembles.mean(name: "plain", members: [a, b])
        for index in plain.folds.indices {
            let expected = zip(a.folds[index].testProbabilities.values, b.folds[index].testProbabilities.values).map { ($0 + $1) / 2 }
            let check = allClose(plain.folds[index].testProbabilities.values, expected, relativeTolerance: 1e-12)
            XCTAssertTrue(check.ok, check.message)
        }
    }

    func testMismatchedUnlabelledImagesAreNamed() throws {
        let (set, labels) = blobs()
        var ids = set.ids
        ids[ids.count - 1] = "img_5"
        let other = FeatureSet(manifest: nil, ids: ids, shape: set.shape, values: set.values, source: URL(fileURLWithPath: "/b.npy"))
        XCTAssertThrowsError(try Comparison.prepare(featureSets: [set, other], labels: labels)) { error in
            XCTAssertTrue(error.localizedDescription.contains("only in b: 5"), error.localizedDescription)
        }
    }

    func testResultsRoundTripAndTable() throws {
        let (set, labels) = blobs()
        let prepared = try Comparison.prepare(featureSets: [set], labels: labels)
        let (results, outcomes) = try Comparison.run(prepared, heads: [grid], settings: CrossValidationSettings(foldCount: 4, threads: 1),
                                                     metaLearner: nil)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try results.write(to: directory)
        XCTAssertEqual(try ComparisonResults.read(from: directory), results)
        XCTAssertTrue(results.table().contains("features / centroid"), results.table())
        let csv = Comparison.outOfFoldCSV(outcomes: outcomes, labels: labels)
        let lines = csv.split(separator: "\n")
        XCTAssertEqual(lines.first, "model,repeat,id,label,p_-1,p_0,p_1,predicted")
        XCTAssertEqual(lines.count, 1 + 52)
    }
}
