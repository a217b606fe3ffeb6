// Classification metrics, defined as scikit-learn 1.9 defines them (checked against it on the
// fixtures of scripts/fixtures/evaluation_fixtures.py):
//   per-class F1 = 2 TP / (2 TP + FP + FN), 0 when that denominator is 0 (zero_division=0)
//   macro F1 = unweighted mean over all classes of the problem, present in this sample or not: scikit-learn's
//     f1_score(truth, predicted, labels=classes, average="macro", zero_division=0); weighted F1 = mean weighted by support;
//   micro F1 = accuracy (every class counted); balanced accuracy = mean recall over the classes
//   present in the truth; log loss = mean of -ln p(true class), p clipped to [eps, 1 - eps].

import Foundation
import Heads
import LinearAlgebra

public struct ClassificationMetrics: Sendable, Codable, Equatable {
    /// The classes in ascending order; rows and columns of `confusion` follow it.
    public let classes: [Int]
    /// confusion[t][p]: rows of true class t predicted as p.
    public let confusion: [[Int]]
    public let support: [Int]
    public let precision: [Double]
    public let recall: [Double]
    public let perClassF1: [Double]
    /// Classes with support that were never predicted: their F1 is 0 (flagged in tables).
    public let neverPredicted: [Int]
    public let macroF1: Double
    public let microF1: Double
    public let weightedF1: Double
    public let balancedAccuracy: Double
    /// nil when no probabilities were given.
    public let logLoss: Double?

    public var accuracy: Double { microF1 }

    /// truth and predicted are labels drawn from `classes`; probabilities (rows x classes) optional.
    public init(classes: [Int], truth: [Int], predicted: [Int], probabilities: Matrix? = nil) {
        precondition(truth.count == predicted.count, "one prediction per row")
        let classes = classes.sorted()
        let count = classes.count
        let position = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: count), count: count)
        for (t, p) in zip(truth, predicted) {
            guard let i = position[t], let j = position[p] else { preconditionFailure("label outside the classes") }
            confusion[i][j] += 1
        }
        let support = confusion.map { $0.reduce(0, +) }
        let predictedCount = (0..<count).map { j in confusion.reduce(0) { $0 + $1[j] } }
        var precision = [Double](), recall = [Double](), f1 = [Double]()
        for k in 0..<count {
            let tp = Double(confusion[k][k])
            precision.append(predictedCount[k] > 0 ? tp / Double(predictedCount[k]) : 0)
            recall.append(support[k] > 0 ? tp / Double(support[k]) : 0)
            f1.append(f1Score(truePositives: confusion[k][k], predicted: predictedCount[k], actual: support[k]))
        }
        let total = truth.count
        let correct = (0..<count).reduce(0) { $0 + confusion[$1][$1] }
        let present = (0..<count).filter { support[$0] > 0 }

        self.classes = classes
        self.confusion = confusion
        self.support = support
        self.precision = precision
        self.recall = recall
        self.perClassF1 = f1
        self.neverPredicted = (0..<count).filter { predictedCount[$0] == 0 && support[$0] > 0 }.map { classes[$0] }
        self.macroF1 = count > 0 ? f1.reduce(0, +) / Double(count) : 0
        self.microF1 = total > 0 ? Double(correct) / Double(total) : 0
        self.weightedF1 = total > 0 ? (0..<count).reduce(0.0) { $0 + f1[$1] * Double(support[$1]) } / Double(total) : 0
        self.balancedAccuracy = present.isEmpty ? 0 : present.reduce(0.0) { $0 + recall[$1] } / Double(present.count)
        if let probabilities {
            precondition(probabilities.rows == total && probabilities.columns == count, "probabilities are rows x classes")
            let epsilon = Double.ulpOfOne
            var sum = 0.0
            for (row, t) in truth.enumerated() {
                let p = min(max(probabilities[row, position[t] ?? 0], epsilon), 1 - epsilon)
                sum -= log(p)
            }
            self.logLoss = total > 0 ? sum / Double(total) : 0
        } else {
            self.logLoss = nil
        }
    }

    /// Metrics of argmax predictions (ties to the lower class) from probabilities whose columns follow `classes`.
    public init(classes: [Int], truth: [Int], probabilities: Matrix) {
        let sorted = classes.sorted()
        self.init(classes: sorted, truth: truth, predicted: argmaxLabels(probabilities, classes: sorted), probabilities: probabilities)
    }
}

/// F1 of one class from its counts: 2 TP / (2 TP + FP + FN) = 2 TP / (predicted + actual), 0 when the class is
/// neither predicted nor present (zero_division=0). The macro F1 of every table, benchmark and decision rule is
/// the unweighted mean of this over all classes of the problem.
@inline(__always)
func f1Score(truePositives: Int, predicted: Int, actual: Int) -> Double {
    let denominator = predicted + actual
    return denominator > 0 ? 2 * Double(truePositives) / Double(denominator) : 0
}

