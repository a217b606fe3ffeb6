// The cross-validation runner: for one feature matrix and one head, out-of-fold probabilities over
// every fold of every repeat, with the head's hyperparameters chosen by an inner stratified
// cross-validation on the outer training rows only, so the outer score is honest (nested CV).
//
// Inner selection: each grid candidate is fit on the inner training rows and scored on the inner
// held-out rows; the pooled inner out-of-fold predictions give a macro F1 per candidate; the best
// (ties: lower inner log loss, then the earlier candidate) is refit on all outer training rows.
// The chosen candidate's inner out-of-fold probabilities are kept: they are what a stacking
// meta-learner is trained on without ever seeing the outer test rows. A head with a single candidate
// has nothing to select, so its inner cross-validation runs only when the caller says something needs
// those probabilities (`innerProbabilitiesNeeded`: a stacking row); otherwise each outer fold is one fit.

import Foundation
import Heads
import LinearAlgebra

/// One grid point of a head: a complete classifier (preprocessing included) and how to print it.
public struct HeadCandidate: Sendable {
    public let setting: String
    public let classifier: any Classifier
    public init(setting: String, classifier: any Classifier) {
        self.setting = setting
        self.classifier = classifier
    }
}

/// A named head and its grid (one candidate: no inner selection, e.g. a GP tuned by marginal likelihood).
public struct HeadSpecification: Sendable {
    public let name: String
    public let candidates: [HeadCandidate]
    public init(name: String, candidates: [HeadCandidate]) {
        precondition(!candidates.isEmpty, "a head needs at least one candidate")
        self.name = name
        self.candidates = candidates
    }
}

public struct CrossValidationSettings: Sendable, Codable, Equatable {
    public var foldCount: Int
    public var repeats: Int
    public var seed: UInt64
    /// Folds of the inner (hyperparameter) cross-validation; reduced to the smallest class when needed.
    public var innerFoldCount: Int
    /// Outer folds fit concurrently.
    public var threads: Int

    public init(foldCount: Int = 8, repeats: Int = 1, seed: UInt64 = 0, innerFoldCount: Int = 4, threads: Int = 2) {
        self.foldCount = foldCount
        self.repeats = repeats
        self.seed = seed
        self.innerFoldCount = innerFoldCount
        self.threads = threads
    }
}

/// The rows a run learns from and predicts.
public struct LabelledData: Sendable {
    /// The labelled rows (in labels order) and their unlabelled companions (to predict for a submission).
    public let labelled: Matrix
    public let unlabelled: Matrix?
    public let labels: [Int]
    public let groups: [String]
    /// All classes in ascending order: every probability matrix has these columns.
    public let classes: [Int]

    public init(labelled: Matrix, unlabelled: Matrix?, labels: [Int], groups: [String], classes: [Int]? = nil) {
        precondition(labelled.rows == labels.count && labels.count == groups.count, "one label and group per labelled row")
        self.labelled = labelled
        self.unlabelled = unlabelled
        self.labels = labels
        self.groups = groups
        self.classes = classes ?? Array(Set(labels)).sorted()
    }
}

/// What one outer fold produced.
public struct FoldOutcome: Sendable {
    public let fold: Fold
    /// The chosen grid candidate.
    public let setting: String
    /// test rows x classes, rows in `fold.testRows` order.
    public let testProbabilities: Matrix
    /// train rows x classes: inner out-of-fold probabilities of the chosen candidate (nil without inner CV).
    public let innerProbabilities: Matrix?
    /// unlabelled rows x classes from the model fit on this fold's training rows.
    public let unlabelledProbabilities: Matrix?
    /// Per-class offsets added to the log-probabilities (DecisionOffsets), nil for a plain argmax.
    public var offsets: [Double]? = nil
    /// Ensemble member weights chosen for this fold (members in the outcome's order), nil otherwise.
    public var memberWeights: [Double]? = nil
    /// What the fold's model reported and what the fold showed around it (a class absent from its training rows).
    public var diagnostics: [Diagnostic] = []
}

/// What a model row is. Stored in results.json as its raw value ("single", "mean", "stack").
public enum ModelKind: String, Codable, Sendable, CaseIterable {
    /// One head on one feature set.
    case single
    /// The mean of its members' probabilities (Ensembles.mean).
    case mean
    /// Its members' probabilities combined by weights or a meta-learner fit on inner out-of-fold probabilities.
    case stack
}

/// Every fold of one model (a feature set and a head, or an ensemble of them).
public struct ModelOutcome: Sendable {
    public let name: String
    public let kind: ModelKind
    public let head: String
    public let featureSets: [String]
    public let classes: [Int]
    public let folds: [FoldOutcome]

    public init(name: String, kind: ModelKind, head: String, featureSets: [String], classes: [Int], folds: [FoldOutcome]) {
        self.name = name
        self.kind = kind
        self.head = head
        self.featureSets = featureSets
        self.classes = classes
        self.folds = folds
    }

    /// The unlabelled rows' probabilities averaged over every fold model (nil when none were predicted).
    public var averagedUnlabelledProbabilities: Matrix? {
        let parts = folds.compactMap(\.unlabelledProbabilities)
        guard parts.count == folds.count, let first = parts.first else { return nil }
        var sum = Matrix(rows: first.rows, columns: first.columns)
        for part in parts { for i in sum.values.indices { sum.values[i] += part.values[i] } }
        for i in sum.values.indices { sum.values[i] /= Double(parts.count) }
        return sum
    }
}

public enum CrossValidation {
    /// Seconds after which `run` reports each finished fold (fold i of n, ETA) through its `progress` (default).
    public static let progressAfterSeconds = 5.0

    /// Runs `head` over `folds` on `data`; `name` labels the model (e.g. `efficientnet_lite0-native / svm`).
    /// `innerProbabilitiesNeeded` false lets a single-candidate head skip its inner cross-validation (its
    /// folds then carry no inner probabilities). Once a run has taken `reportAfter` seconds, every finished
    /// fold but the last is reported through `progress` as "name: fold i of n done (elapsed, ETA)".
    public static func run(name: String, featureSet: String, head: HeadSpecification, data: LabelledData, folds: [Fold],
                           settings: CrossValidationSettings, innerProbabilitiesNeeded: Bool = true,
                           reportAfter: Double = progressAfterSeconds, progress: (String) -> Void = { _ in }) throws -> ModelOutcome {
        let start = DispatchTime.now().uptimeNanoseconds
        let outcomes = try withoutActuallyEscaping(progress) { progress in
            try parallelMap(Array(folds.indices), threads: settings.threads, onFinished: { finished in
                let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
                guard elapsed >= reportAfter, finished < folds.count else { return }
                let remaining = elapsed / Double(finished) * Double(folds.count - finished)
                progress(String(format: "%@: fold %d of %d done (%.1f s, ETA %.0f s)", name, finished, folds.count, elapsed, remaining))
            }) { index -> FoldOutcome in
                try runFold(folds[index], head: head, data: data, settings: settings, innerProbabilitiesNeeded: innerProbabilitiesNeeded)
            }
        }
        return ModelOutcome(name: name, kind: .single, head: head.name, featureSets: [featureSet], classes: data.classes, folds: outcomes)
    }

    /// Whether `run` fits the inner cross-validation of `head`: to choose among several candidates, or for a
    /// single candidate only when its inner probabilities are needed.
    public static func runsInnerCrossValidation(_ head: HeadSpecification, innerProbabilitiesNeeded: Bool) -> Bool {
        head.candidates.count > 1 || innerProbabilitiesNeeded
    }

    static func runFold(_ fold: Fold, head: HeadSpecification, data: LabelledData, settings: CrossValidationSettings,
                        innerProbabilitiesNeeded: Bool = true) throws -> FoldOutcome {
        let trainLabels = fold.trainRows.map { data.labels[$0] }
        let trainGroups = fold.trainRows.map { data.groups[$0] }
        let train = data.labelled.selectingRows(fold.trainRows)
        // A seed per outer fold: the inner split differs between folds and repeats but is reproducible.
        let innerSeed = derivedSeed(settings.seed, fold.repeatIndex, fold.foldIndex)
        let inner = runsInnerCrossValidation(head, innerProbabilitiesNeeded: innerProbabilitiesNeeded)
            ? try innerOutOfFold(candidates: head.candidates, features: train, labels: trainLabels, groups: trainGroups,
                                 classes: data.classes, foldCount: settings.innerFoldCount, seed: innerSeed)
            : (chosen: 0, probabilities: nil)
        let chosen = head.candidates[inner.chosen]
        let model = try chosen.classifier.fit(train, labels: trainLabels, sampleWeights: nil)
        let test = data.labelled.selectingRows(fold.testRows)
        return FoldOutcome(
            fold: fold, setting: chosen.setting,
            testProbabilities: expand(try model.predictProba(test), from: model.classes, to: data.classes),
            innerProbabilities: inner.probabilities,
            unlabelledProbabilities: try data.unlabelled.map { expand(try model.predictProba($0), from: model.classes, to: data.classes) },
            diagnostics: model.diagnostics
                + data.classes.filter { !model.classes.contains($0) }.map { Diagnostic.classAbsentFromTraining($0, fold: fold) })
    }

    /// Scores every candidate by inner stratified CV; returns the best and its inner out-of-fold probabilities.
    /// With a single candidate it is called only when its probabilities are needed (they feed stacking).
    static func innerOutOfFold(candidates: [HeadCandidate], features: Matrix, labels: [Int], groups: [String], classes: [Int],
                               foldCount: Int, seed: UInt64) throws -> (chosen: Int, probabilities: Matrix?) {
        var groupsOfClass: [Int: Set<String>] = [:]
        for (label, group) in zip(labels, groups) { groupsOfClass[label, default: []].insert(group) }
        let smallest = groupsOfClass.values.map(\.count).min() ?? 0
        let innerFolds = min(foldCount, smallest)
        guard innerFolds >= 2 else { return (0, nil) }
        let assignment = try StratifiedFolds.assignment(labels: labels, groups: groups, foldCount: innerFolds, seed: seed)
        var best: (index: Int, f1: Double, logLoss: Double, probabilities: Matrix)?
        for (index, candidate) in candidates.enumerated() {
            var probabilities = Matrix(rows: labels.count, columns: classes.count)
            for innerFold in 0..<innerFolds {
                let trainRows = labels.indices.filter { assignment[$0] != innerFold }
                let testRows = labels.indices.filter { assignment[$0] == innerFold }
                let model = try candidate.classifier.fit(features.selectingRows(trainRows), labels: trainRows.map { labels[$0] }, sampleWeights: nil)
                let predicted = expand(try model.predictProba(features.selectingRows(testRows)), from: model.classes, to: classes)
                for (position, row) in testRows.enumerated() {
                    for c in 0..<classes.count { probabilities[row, c] = predicted[position, c] }
                }
            }
            let metrics = ClassificationMetrics(classes: classes, truth: labels, probabilities: probabilities)
            let logLoss = metrics.logLoss ?? .infinity
            if let current = best {
                let better = metrics.macroF1 > current.f1 + 1e-12
                    || (abs(metrics.macroF1 - current.f1) <= 1e-12 && logLoss < current.logLoss - 1e-12)
                if better { best = (index, metrics.macroF1, logLoss, probabilities) }
            } else {
                best = (index, metrics.macroF1, logLoss, probabilities)
            }
        }
        return best.map { ($0.index, $0.probabilities) } ?? (0, nil)
    }

    /// Probabilities over `from` classes, widened to `to` classes (a class absent from training gets 0).
    public static func expand(_ probabilities: Matrix, from: [Int], to: [Int]) -> Matrix {
        if from == to { return probabilities }
        var out = Matrix(rows: probabilities.rows, columns: to.count)
        let position = Dictionary(uniqueKeysWithValues: to.enumerated().map { ($1, $0) })
        for (column, label) in from.enumerated() {
            guard let target = position[label] else { continue }
            for r in 0..<probabilities.rows { out[r, target] = probabilities[r, column] }
        }
        return out
    }
}

/// A seed derived from `seed` and some indices (SplitMix64 of a mixed value): reproducible, distinct per index tuple.
public func derivedSeed(_ seed: UInt64, _ parts: Int...) -> UInt64 {
    var value = seed
    for part in parts {
        var generator = SplitMix64(seed: value ^ (UInt64(bitPattern: Int64(part)) &* 0x9E37_79B9_7F4A_7C15))
        value = generator.next()
    }
    return value
}

/// Maps `items` through `body` on up to `threads` threads, keeping order; the first error is rethrown.
/// While the workers run, OpenBLAS is single-threaded (the workers are the parallelism). `onFinished`
/// is called (one call at a time) with the number of items finished so far, after each one.
func parallelMap<T, R>(_ items: [T], threads: Int, onFinished: @escaping (Int) -> Void = { _ in },
                       _ body: @escaping (T) throws -> R) throws -> [R] {
    if threads <= 1 || items.count <= 1 {
        var results = [R]()
        for item in items { results.append(try body(item)); onFinished(results.count) }
        return results
    }
    return try withSingleThreadedBLAS { try concurrentMap(items, workers: min(threads, items.count), onFinished: onFinished, body) }
}

private func concurrentMap<T, R>(_ items: [T], workers: Int, onFinished: @escaping (Int) -> Void,
                                 _ body: @escaping (T) throws -> R) throws -> [R] {
    let lock = NSLock()
    var results = [R?](repeating: nil, count: items.count)
    var failure: Error?
    var finished = 0
    DispatchQueue.concurrentPerform(iterations: workers) { worker in
        var index = worker
        while index < items.count {
            lock.lock(); let stop = failure != nil; lock.unlock()
            if stop { return }
            do {
                let result = try body(items[index])
                lock.lock(); results[index] = result; finished += 1; onFinished(finished); lock.unlock()
            } catch {
                lock.lock(); if failure == nil { failure = error }; lock.unlock()
                return
            }
            index += workers
        }
    }
    if let failure { throw failure }
    return results.compactMap { $0 }
}
