// Decision rules for macro F1: per-class offsets added to a model's log-probabilities before the
// argmax, chosen per outer fold on the inner out-of-fold probabilities of the outer training rows
// (what the inner cross-validation already produced), never on the outer test rows.
//
// Macro F1 rewards recall on the small classes, and a model fit with balanced class weights still
// leans to the majority class when its probabilities are shrunk towards the prior; shifting the
// class scores by offsets o (prediction argmax_c log p_c + o_c, o_0 = 0) is the plug-in rule for a
// different cost matrix (Elkan 2001, "The Foundations of Cost-Sensitive Learning"; for F-measures,
// Lipton, Elkan, Naryanaswamy 2014, "Thresholding Classifiers to Maximize F1"). Offsets are applied
// to the probabilities as p'_c ∝ p_c exp(o_c), so every downstream step (metrics, ensembles,
// submission) sees an ordinary probability matrix whose argmax is the shifted rule.
//
// Search: the grid {-3, -2.9, …, 3} for every class but the first. With at most three classes the
// whole grid is searched (61² points); with more, coordinate ascent over the same grid from o = 0
// (each sweep tries every grid value of one class at a time, until a sweep changes nothing). Ties in
// inner macro F1 (it is piecewise constant) go to the smallest Σ o², then to the first grid point.

import Foundation
import LinearAlgebra

/// How a row turns class probabilities into a label.
public enum DecisionRule: String, Sendable, CaseIterable, Codable {
    /// The most probable class.
    case argmax
    /// Per-class offsets chosen on the inner out-of-fold probabilities to maximise inner macro F1.
    case offsets
    /// Both: every row, and beside it the same row with offsets (`<name> + offsets`).
    case both
}

public enum DecisionOffsets {
    /// The offsets searched for each class (the first class is fixed at 0).
    public static let grid: [Double] = (-30...30).map { Double($0) / 10 }

    /// Offsets (one per column, the first 0) maximising the macro F1 of argmax(log p + o) against
    /// `labels` (values from `classes`, ascending; columns follow `classes`).
    public static func choose(probabilities: Matrix, labels: [Int], classes: [Int]) -> (offsets: [Double], macroF1: Double) {
        let count = classes.count
        guard count >= 2, probabilities.rows == labels.count, probabilities.rows > 0 else {
            return ([Double](repeating: 0, count: count), .nan)
        }
        let position = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        let truth = labels.map { position[$0] ?? 0 }
        let logs = probabilities.values.map { log(max($0, 1e-300)) }
        var scorer = Scorer(logs: logs, truth: truth, classCount: count)
        var best = [Double](repeating: 0, count: count)
        var bestF1 = scorer.macroF1(best)
        var bestNorm = 0.0
        func consider(_ offsets: [Double]) {
            let f1 = scorer.macroF1(offsets)
            let norm = offsets.reduce(0) { $0 + $1 * $1 }
            if f1 > bestF1 + 1e-12 || (abs(f1 - bestF1) <= 1e-12 && norm < bestNorm - 1e-12) {
                best = offsets; bestF1 = f1; bestNorm = norm
            }
        }
        if count <= 3 {
            var offsets = [Double](repeating: 0, count: count)
            // Whole grid, class 1 outer, class 2 inner: the first point of a tie is kept.
            bestF1 = -1; bestNorm = .infinity
            for first in grid {
                offsets[1] = first
                if count == 3 {
                    for second in grid { offsets[2] = second; consider(offsets) }
                } else {
                    consider(offsets)
                }
            }
        } else {
            for _ in 0..<20 {
                let before = best
                for c in 1..<count {
                    var trial = best
                    for value in grid { trial[c] = value; consider(trial) }
                }
                if before == best { break }
            }
        }
        return (best, bestF1)
    }

    /// p'_c ∝ p_c exp(o_c), row by row (computed from log p, so the argmax is argmax log p + o).
    public static func apply(_ probabilities: Matrix, offsets: [Double]) -> Matrix {
        precondition(offsets.count == probabilities.columns, "one offset per class")
        var out = probabilities
        let columns = probabilities.columns
        for r in 0..<probabilities.rows {
            var scores = (0..<columns).map { log(max(probabilities[r, $0], 1e-300)) + offsets[$0] }
            let top = scores.max() ?? 0
            var sum = 0.0
            for c in 0..<columns { scores[c] = exp(scores[c] - top); sum += scores[c] }
            for c in 0..<columns { out[r, c] = scores[c] / sum }
        }
        return out
    }

    /// `outcome` with offsets chosen per fold on that fold's inner out-of-fold probabilities (rows in
    /// `fold.trainRows` order, `labels` indexed by row) and applied to its test and unlabelled
    /// probabilities. A fold without inner probabilities keeps zero offsets.
    public static func applying(to outcome: ModelOutcome, labels: [Int]) -> ModelOutcome {
        let folds = outcome.folds.map { fold -> FoldOutcome in
            var offsets = [Double](repeating: 0, count: outcome.classes.count)
            if let inner = fold.innerProbabilities {
                offsets = choose(probabilities: inner, labels: fold.fold.trainRows.map { labels[$0] }, classes: outcome.classes).offsets
            }
            return FoldOutcome(fold: fold.fold, setting: fold.setting,
                               testProbabilities: apply(fold.testProbabilities, offsets: offsets),
                               innerProbabilities: fold.innerProbabilities.map { apply($0, offsets: offsets) },
                               unlabelledProbabilities: fold.unlabelledProbabilities.map { apply($0, offsets: offsets) },
                               offsets: offsets, diagnostics: fold.diagnostics)
        }
        return ModelOutcome(name: outcome.name + " + offsets", kind: outcome.kind, head: outcome.head,
                            featureSets: outcome.featureSets, classes: outcome.classes, folds: folds)
    }

    /// Macro F1 of argmax(log p + o) with reusable buffers (the search calls it thousands of times).
    struct Scorer {
        let logs: [Double]
        let truth: [Int]
        let classCount: Int
        var confusion: [Int]

        init(logs: [Double], truth: [Int], classCount: Int) {
            self.logs = logs
            self.truth = truth
            self.classCount = classCount
            confusion = [Int](repeating: 0, count: classCount * classCount)
        }

        /// ClassificationMetrics.macroF1 (the mean of f1Score over all classes) of the offset rule, from a confusion
        /// matrix reused across the grid; argmax ties go to the lower class, as argmaxIndex does.
        mutating func macroF1(_ offsets: [Double]) -> Double {
            let k = classCount
            for i in confusion.indices { confusion[i] = 0 }
            for (row, t) in truth.enumerated() {
                let base = row * k
                var best = 0
                var bestScore = logs[base] + offsets[0]
                for c in 1..<k {
                    let score = logs[base + c] + offsets[c]
                    if score > bestScore { best = c; bestScore = score }
                }
                confusion[t * k + best] += 1
            }
            var sum = 0.0
            for c in 0..<k {
                var predicted = 0, actual = 0
                for other in 0..<k { predicted += confusion[other * k + c]; actual += confusion[c * k + other] }
                sum += f1Score(truePositives: confusion[c * k + c], predicted: predicted, actual: actual)
            }
            return sum / Double(k)
        }
    }
}
