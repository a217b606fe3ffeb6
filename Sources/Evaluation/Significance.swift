// Which differences in the table are real, and how wide each row's score really is.
//
// Corrected resampled t-test (Nadeau & Bengio 2003, "Inference for the Generalization Error",
// Machine Learning 52; for r repeats of k-fold CV, Bouckaert & Frank 2004, "Evaluating the
// Replicability of Significance Tests for Comparing Learning Algorithms", PAKDD): two models scored
// on the same n = r·k folds differ by d_j per fold; the folds' training sets overlap, so the plain
// variance of d̄ (σ²/n) is far too small, and the corrected statistic is
//     t = d̄ / sqrt((1/n + n_test/n_train) · σ²),   σ² the sample variance of d (n − 1),
// with n − 1 degrees of freedom; the p-value is two-sided, P(|T| ≥ |t|) = I_{ν/(ν+t²)}(ν/2, 1/2),
// the regularised incomplete beta function (Numerical Recipes 3rd ed. §6.4, continued fraction by
// the modified Lentz method). A row is "indistinguishable from the best" when p ≥ 0.05.
//
// Bootstrap interval: the pooled out-of-fold macro F1 (every repeat's predictions together) recomputed
// on images resampled with replacement (each drawn image brings all its repeats' predictions), 1000
// resamples from a seeded SplitMix64, the 2.5 and 97.5 percentiles (linear interpolation between
// order statistics, numpy's default). The interval is about the images, not the folds: with 62
// images it is wide, and the table says so.

import Foundation
import LinearAlgebra

public enum Significance {
    /// The level below which a row differs from the best row.
    public static let alpha = 0.05
    public static let bootstrapResamples = 1000

    /// Two-sided p-value of the corrected resampled t-test on per-fold differences `differences`
    /// (same folds for both models); `testTrainRatio` is n_test / n_train of one fold. 1 when every
    /// difference is 0; 0 when they are all equal and not 0.
    public static func correctedPValue(differences: [Double], testTrainRatio: Double) -> (t: Double, p: Double) {
        let n = Double(differences.count)
        guard differences.count >= 2 else { return (.nan, 1) }
        let mean = differences.reduce(0, +) / n
        let variance = differences.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
        // Equal differences (up to rounding): no spread to test against.
        if variance <= 1e-24 * max(mean * mean, 1e-300) { return mean == 0 ? (0, 1) : (mean > 0 ? .infinity : -.infinity, 0) }
        let t = mean / ((1 / n + testTrainRatio) * variance).squareRoot()
        return (t, studentTwoSidedP(t: t, degreesOfFreedom: n - 1))
    }

    /// P(|T| ≥ |t|) for Student's t with `degreesOfFreedom`.
    public static func studentTwoSidedP(t: Double, degreesOfFreedom nu: Double) -> Double {
        guard t.isFinite else { return 0 }
        return min(1, max(0, regularizedIncompleteBeta(nu / (nu + t * t), a: nu / 2, b: 0.5)))
    }

    /// I_x(a, b) (Numerical Recipes §6.4: the continued fraction where it converges fast, else by symmetry).
    public static func regularizedIncompleteBeta(_ x: Double, a: Double, b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let logGammas: Double = lgamma(a + b) - lgamma(a) - lgamma(b)
        let logPowers: Double = a * log(x) + b * log(1 - x)
        let front: Double = exp(logGammas + logPowers)
        if x < (a + 1) / (a + b + 2) { return front * betaContinuedFraction(x, a: a, b: b) / a }
        return 1 - front * betaContinuedFraction(1 - x, a: b, b: a) / b
    }

    /// The continued fraction of I_x(a, b) by the modified Lentz method (NR betacf).
    static func betaContinuedFraction(_ x: Double, a: Double, b: Double) -> Double {
        let tiny = 1e-300, epsilon = 1e-15
        let qab = a + b, qap = a + 1, qam = a - 1
        var c = 1.0, d = 1 - qab * x / qap
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for m in 1...10_000 {
            let m = Double(m), m2 = 2 * m
            var aa = m * (b - m) * x / ((qam + m2) * (a + m2))
            d = 1 + aa * d; if abs(d) < tiny { d = tiny }
            c = 1 + aa / c; if abs(c) < tiny { c = tiny }
            d = 1 / d; h *= d * c
            aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
            d = 1 + aa * d; if abs(d) < tiny { d = tiny }
            c = 1 + aa / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < epsilon { break }
        }
        return h
    }

    /// The percentile interval of the pooled macro F1 over images resampled with replacement.
    /// predictions: (image index in 0..<imageCount, true class position, predicted class position).
    public static func bootstrapMacroF1Interval(predictions: [(image: Int, truth: Int, predicted: Int)], imageCount: Int,
                                                classCount: Int, resamples: Int = bootstrapResamples, seed: UInt64 = 0,
                                                level: Double = 0.95) -> (low: Double, high: Double) {
        guard imageCount > 0, classCount > 0, resamples > 0 else { return (.nan, .nan) }
        let cells = classCount * classCount
        // Each image's own confusion counts (all its repeats).
        var contribution = [Int](repeating: 0, count: imageCount * cells)
        for item in predictions { contribution[item.image * cells + item.truth * classCount + item.predicted] += 1 }
        var generator = SplitMix64(seed: seed)
        var scores: [Double] = []
        scores.reserveCapacity(resamples)
        var confusion = [Int](repeating: 0, count: cells)
        for _ in 0..<resamples {
            for i in confusion.indices { confusion[i] = 0 }
            for _ in 0..<imageCount {
                let image = Int(generator.next() % UInt64(imageCount))
                let base = image * cells
                for cell in 0..<cells { confusion[cell] += contribution[base + cell] }
            }
            scores.append(macroF1(confusion: confusion, classCount: classCount))
        }
        scores.sort()
        let tail = (1 - level) / 2
        return (percentile(scores, tail), percentile(scores, 1 - tail))
    }

    /// numpy.percentile's default (linear) on sorted values, q in [0, 1].
    static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        let position = q * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down)), upper = min(lower + 1, sorted.count - 1)
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - Double(lower))
    }

    /// Macro F1 over every class (0 for a class with no true and no predicted rows), as ClassificationMetrics.
    static func macroF1(confusion: [Int], classCount k: Int) -> Double {
        var sum = 0.0
        for c in 0..<k {
            var predicted = 0, actual = 0
            for other in 0..<k { predicted += confusion[other * k + c]; actual += confusion[c * k + other] }
            let denominator = predicted + actual
            sum += denominator > 0 ? 2 * Double(confusion[c * k + c]) / Double(denominator) : 0
        }
        return sum / Double(k)
    }

    /// Each row's corrected p-value against `best` (nil for the best row itself, or when the folds differ).
    public static func pValues(rows: [ResultRow], best: ResultRow, labelledCount: Int) -> [Double?] {
        rows.map { row -> Double? in
            guard row.name != best.name, row.folds.count == best.folds.count,
                  zip(row.folds, best.folds).allSatisfy({ $0.repeatIndex == $1.repeatIndex && $0.foldIndex == $1.foldIndex }) else { return nil }
            let differences = zip(best.folds, row.folds).map { $0.macroF1 - $1.macroF1 }
            let tests = row.folds.map { Double($0.testClassCounts.reduce(0, +)) }
            let meanTest = tests.reduce(0, +) / Double(max(tests.count, 1))
            let ratio = meanTest / max(Double(labelledCount) - meanTest, 1)
            return correctedPValue(differences: differences, testTrainRatio: ratio).p
        }
    }
}
