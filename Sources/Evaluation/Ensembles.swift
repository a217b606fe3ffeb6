// Ensembles scored on exactly the same folds as their members, so they are rows of the same table.
// Every rule chooses its member weights per outer fold from the members' inner out-of-fold
// probabilities of the outer training rows only (what the inner cross-validation of each member
// already produced), so the outer test rows stay unseen; no constant of these rules was tuned on
// outer scores.
//   mean:  the members' class probabilities averaged with weights w_m ∝ max(0, F1_m − chance),
//          F1_m a member's inner macro F1 and chance the expected macro F1 of a uniform random guess
//          at the training rows' class frequencies (a member no better than chance is dropped; when
//          no member beats chance, or without inner probabilities, the plain mean). Every head fits
//          with balanced class weights, so the averaged probabilities already respect the class
//          balance (ANCHORS: an argmax of unbalanced probabilities collapses to the majority class).
//   stack (`--stacking selection`, the default): ensemble selection, Caruana, Niculescu-Mizil, Crew
//          & Ksikes 2004, "Ensemble Selection from Libraries of Models" (ICML): forward selection with
//          replacement from the empty ensemble; each of `selectionSteps` (50, auto-sklearn's default
//          ensemble size, Feurer et al. 2015) steps adds the member whose addition gives the plain
//          average of the selected multiset the highest inner macro F1 (ties: the lower class-balanced
//          inner log loss, then the earlier member); the weights are the selection counts of the best
//          prefix of that sequence (Caruana et al. §2.1: the ensemble with the best hillclimb score;
//          ties: the shorter prefix). The first step is the inner-best member alone, so a member that
//          never improves the average keeps weight 0, and members of unequal quality degenerate to the
//          best of them; members of equal quality end up near the plain mean.
//   stack (`--stacking convex`): the convex combination (linear opinion pool) Σ w_m p_m, w ≥ 0,
//          Σ w = 1, maximising the class-balanced log-likelihood of the members' inner out-of-fold
//          probabilities, by the EM iteration for mixture weights (w_m ← Σ_i s_i r_im / Σ_i s_i,
//          r_im = w_m p_m(y_i | x_i) / Σ_k w_k p_k(y_i | x_i); s_i balanced class weights), which
//          increases the likelihood at every step and converges to the global optimum of this concave
//          problem (constrained stacking: Breiman 1996, "Stacked Regressions"; Ting & Witten 1999,
//          "Issues in Stacked Generalization").
//   stack (`--stacking softmax`): a softmax meta-learner on the concatenated inner probabilities
//          (`stack(…, metaLearner:)`); on OxML it lost to its own members (0.493 vs 0.596).
// What the data say (BENCHMARKS.md, "ensembles that do no harm"): on OxML's ~54 inner rows per fold,
// every rule that selects or weights members by inner scores (the inner-best member, ensemble
// selection, the likelihood weights, a choice among them) lost more to the outer-best member than
// the plain or score-weighted mean did, on average over heads, backbones and fold seeds (the
// "forecast combination puzzle", Clemen 1989; Smith & Wallis 2009). So the mean rows stay the robust
// default, and the stack rows the alternative that can drop a member the inner rows show to be worse
// (the inner rows do not always show it: Lite2 / svm scores 0.53 inner, 0.48 outer).

import Foundation
import Heads
import LinearAlgebra

/// How `stack` rows combine their members.
public enum StackingMethod: String, Sendable, CaseIterable, Codable {
    /// Ensemble selection (Caruana et al. 2004) on the inner out-of-fold probabilities (the default).
    case selection
    /// The convex combination maximising the class-balanced likelihood of the inner out-of-fold probabilities.
    case convex
    /// The softmax meta-learner on the concatenated member probabilities.
    case softmax
}

public enum Ensembles {
    /// The mean of `members`' probabilities fold by fold. Members must come from the same folds.
    /// With `labels` (all labelled rows' labels) the members are weighted by how far their inner macro
    /// F1 beats chance (see the header); without, every member counts the same.
    public static func mean(name: String, members: [ModelOutcome], labels: [Int]? = nil) throws -> ModelOutcome {
        guard let first = members.first else { throw EvaluationError.invalidSetting(key: "ensemble", problem: "no members to average") }
        try checkSameFolds(members)
        var folds: [FoldOutcome] = []
        for index in first.folds.indices {
            let parts = members.map { $0.folds[index] }
            var weights = [Double](repeating: 1 / Double(parts.count), count: parts.count)
            if let labels {
                weights = scoreWeights(parts, labels: parts[0].fold.trainRows.map { labels[$0] }, classes: first.classes)
            }
            var outcome = FoldOutcome(
                fold: parts[0].fold,
                setting: "mean of \(members.count)",
                testProbabilities: weightedSum(parts.map(\.testProbabilities), weights: weights),
                innerProbabilities: parts.allSatisfy { $0.innerProbabilities != nil } ? weightedSum(parts.compactMap(\.innerProbabilities), weights: weights) : nil,
                unlabelledProbabilities: parts.allSatisfy { $0.unlabelledProbabilities != nil } ? weightedSum(parts.compactMap(\.unlabelledProbabilities), weights: weights) : nil)
            if labels != nil { outcome.memberWeights = weights }
            folds.append(outcome)
        }
        let heads = Array(Set(members.map(\.head))).sorted()
        return ModelOutcome(name: name, kind: .mean, head: heads.joined(separator: "+"),
                            featureSets: uniqueInOrder(members.flatMap(\.featureSets)), classes: first.classes, folds: folds)
    }

    /// Stacking: `metaLearner` on the concatenated member probabilities. labels: all labelled rows' labels.
    public static func stack(name: String, members: [ModelOutcome], labels: [Int], metaLearner: any Classifier,
                             threads: Int = 1) throws -> ModelOutcome {
        guard let first = members.first else { throw EvaluationError.invalidSetting(key: "ensemble", problem: "no members to stack") }
        try checkSameFolds(members)
        let classes = first.classes
        let folds = try parallelMap(Array(first.folds.indices), threads: threads) { index -> FoldOutcome in
            let parts = members.map { $0.folds[index] }
            let fold = parts[0].fold
            let inner = try innerProbabilities(of: parts)
            let model = try metaLearner.fit(concatenate(inner), labels: fold.trainRows.map { labels[$0] }, sampleWeights: nil)
            let test = CrossValidation.expand(try model.predictProba(concatenate(parts.map(\.testProbabilities))), from: model.classes, to: classes)
            let unlabelled: Matrix? = parts.allSatisfy { $0.unlabelledProbabilities != nil }
                ? CrossValidation.expand(try model.predictProba(concatenate(parts.compactMap(\.unlabelledProbabilities))), from: model.classes, to: classes)
                : nil
            return FoldOutcome(fold: fold, setting: "stack of \(members.count)", testProbabilities: test,
                               innerProbabilities: nil, unlabelledProbabilities: unlabelled, diagnostics: model.diagnostics)
        }
        let heads = uniqueInOrder(members.map(\.head))
        return ModelOutcome(name: name, kind: .stack, head: heads.joined(separator: "+"),
                            featureSets: uniqueInOrder(members.flatMap(\.featureSets)), classes: classes, folds: folds)
    }

    /// Every member's inner out-of-fold probabilities of one fold, the stacking learners' training rows.
    private static func innerProbabilities(of parts: [FoldOutcome]) throws -> [Matrix] {
        let inner = parts.compactMap(\.innerProbabilities)
        guard inner.count == parts.count else {   // so parts is not empty
            let fold = parts[0].fold
            throw EvaluationError.missingResult(problem: "stacking needs inner out-of-fold probabilities for every member "
                + "(repeat \(fold.repeatIndex + 1), fold \(fold.foldIndex + 1) has a class too small for an inner split)")
        }
        return inner
    }

    /// Stacking by weights on the members' probabilities, chosen per fold on the members' inner
    /// out-of-fold probabilities by `method` (`.selection` or `.convex`; see the header). labels: all labelled rows' labels.
    public static func weightedStack(name: String, members: [ModelOutcome], labels: [Int],
                                     method: StackingMethod = .selection) throws -> ModelOutcome {
        guard let first = members.first else { throw EvaluationError.invalidSetting(key: "ensemble", problem: "no members to stack") }
        guard method != .softmax else { throw EvaluationError.invalidSetting(key: "stacking", problem: "softmax stacking needs a meta-learner (Ensembles.stack)") }
        try checkSameFolds(members)
        let classes = first.classes
        var folds: [FoldOutcome] = []
        for index in first.folds.indices {
            let parts = members.map { $0.folds[index] }
            let fold = parts[0].fold
            let inner = try innerProbabilities(of: parts)
            let trainLabels = fold.trainRows.map { labels[$0] }
            let weights = method == .convex
                ? convexWeights(inner, labels: trainLabels, classes: classes)
                : selectionWeights(inner, labels: trainLabels, classes: classes)
            var outcome = FoldOutcome(
                fold: fold, setting: "stack of \(members.count)",
                testProbabilities: weightedSum(parts.map(\.testProbabilities), weights: weights),
                innerProbabilities: weightedSum(inner, weights: weights),
                unlabelledProbabilities: parts.allSatisfy { $0.unlabelledProbabilities != nil }
                    ? weightedSum(parts.compactMap(\.unlabelledProbabilities), weights: weights) : nil)
            outcome.memberWeights = weights
            folds.append(outcome)
        }
        return ModelOutcome(name: name, kind: .stack, head: uniqueInOrder(members.map(\.head)).joined(separator: "+"),
                            featureSets: uniqueInOrder(members.flatMap(\.featureSets)), classes: classes, folds: folds)
    }

    /// Steps of ensemble selection (auto-sklearn's default ensemble size; not tuned here).
    public static let selectionSteps = 50

    /// Ensemble selection with replacement (Caruana et al. 2004; see the header): member weights (the
    /// selection counts of the best prefix, divided by its length) for `probabilities` (one matrix per
    /// member, rows × classes) against `labels` (values from `classes`).
    public static func selectionWeights(_ probabilities: [Matrix], labels: [Int], classes: [Int],
                                        steps: Int = selectionSteps) -> [Double] {
        let count = probabilities.count
        guard count > 1, let first = probabilities.first, steps > 0 else { return [Double](repeating: 1 / Double(max(count, 1)), count: count) }
        let sampleWeights = balancedSampleWeights(labels)
        let position = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        let truth = labels.map { position[$0] ?? 0 }
        // Better: higher macro F1; equal macro F1 (within 1e-12): lower balanced log loss.
        func better(_ a: (f1: Double, logLoss: Double), than b: (f1: Double, logLoss: Double)) -> Bool {
            a.f1 > b.f1 + 1e-12 || (abs(a.f1 - b.f1) <= 1e-12 && a.logLoss < b.logLoss - 1e-12)
        }
        var counts = [Int](repeating: 0, count: count)
        var sum = Matrix(rows: first.rows, columns: first.columns)   // Σ of the selected members' probabilities
        var best: (score: (f1: Double, logLoss: Double), counts: [Int])?
        for step in 1...steps {
            var chosen: (member: Int, score: (f1: Double, logLoss: Double))?
            for m in 0..<count {
                var candidate = sum
                for i in candidate.values.indices { candidate.values[i] = (candidate.values[i] + probabilities[m].values[i]) / Double(step) }
                let score = (f1: ClassificationMetrics(classes: classes, truth: labels, probabilities: candidate).macroF1,
                             logLoss: balancedLogLoss(candidate, truth: truth, sampleWeights: sampleWeights))
                if chosen.map({ better(score, than: $0.score) }) ?? true { chosen = (m, score) }
            }
            guard let chosen else { break }
            counts[chosen.member] += 1
            for i in sum.values.indices { sum.values[i] += probabilities[chosen.member].values[i] }
            if best.map({ better(chosen.score, than: $0.score) }) ?? true { best = (chosen.score, counts) }
        }
        let selected = best?.counts ?? counts
        let total = Double(selected.reduce(0, +))
        return selected.map { Double($0) / total }
    }

    /// s_i = n / (k n_{y_i}): every class weighs the same in total (k the classes present).
    static func balancedSampleWeights(_ labels: [Int]) -> [Double] {
        var classCounts: [Int: Int] = [:]
        for label in labels { classCounts[label, default: 0] += 1 }
        return labels.map { Double(labels.count) / Double(classCounts.count * (classCounts[$0] ?? 1)) }
    }

    /// −Σ_i s_i log max(P[i, y_i], 1e-12) / Σ_i s_i (truth: column indices).
    static func balancedLogLoss(_ probabilities: Matrix, truth: [Int], sampleWeights: [Double]) -> Double {
        var loss = 0.0, total = 0.0
        for (i, column) in truth.enumerated() {
            loss -= sampleWeights[i] * Foundation.log(max(probabilities[i, column], 1e-12))
            total += sampleWeights[i]
        }
        return total > 0 ? loss / total : 0
    }

    /// Weights on the simplex maximising Σ_i s_i log Σ_m w_m P_m[i, y_i] (s_i balanced class weights):
    /// EM for mixture weights from the uniform start, 1000 iterations at most, stopping when no weight
    /// moves by more than 1e-10. Probabilities are floored at 1e-12.
    public static func convexWeights(_ probabilities: [Matrix], labels: [Int], classes: [Int]) -> [Double] {
        let count = probabilities.count
        var weights = [Double](repeating: 1 / Double(count), count: count)
        guard count > 1 else { return weights }
        let position = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        let sampleWeights = balancedSampleWeights(labels)
        let totalWeight = sampleWeights.reduce(0, +)
        // likelihood[i][m] = P_m[i, y_i]
        let likelihood = labels.indices.map { i in probabilities.map { max($0[i, position[labels[i]] ?? 0], 1e-12) } }
        for _ in 0..<1000 {
            var next = [Double](repeating: 0, count: count)
            for (i, row) in likelihood.enumerated() {
                var mixture = 0.0
                for m in 0..<count { mixture += weights[m] * row[m] }
                for m in 0..<count { next[m] += sampleWeights[i] * weights[m] * row[m] / mixture }
            }
            for m in 0..<count { next[m] /= totalWeight }
            let change = zip(next, weights).map { abs($0 - $1) }.max() ?? 0
            weights = next
            if change <= 1e-10 { break }
        }
        return weights
    }

    /// Chance level of macro F1: a guess drawn uniformly from the k classes has precision π_c (the
    /// class frequency) and recall 1/k on class c, so F1_c = 2 π_c (1/k) / (π_c + 1/k); averaged.
    public static func chanceMacroF1(labels: [Int], classes: [Int]) -> Double {
        let k = Double(classes.count)
        guard k > 0, !labels.isEmpty else { return 0 }
        var sum = 0.0
        for c in classes {
            let frequency = Double(labels.filter { $0 == c }.count) / Double(labels.count)
            sum += frequency > 0 ? 2 * frequency / k / (frequency + 1 / k) : 0
        }
        return sum / k
    }

    /// w_m ∝ max(0, inner macro F1_m − chance); uniform when no member has inner probabilities or none beats chance.
    static func scoreWeights(_ parts: [FoldOutcome], labels: [Int], classes: [Int]) -> [Double] {
        let inner = parts.compactMap(\.innerProbabilities)
        guard inner.count == parts.count else { return [Double](repeating: 1 / Double(parts.count), count: parts.count) }
        return scoreWeights(inner, labels: labels, classes: classes)
    }

    /// w_m ∝ max(0, macro F1_m − chance) of the members' probabilities on `labels`; uniform when none beats chance.
    public static func scoreWeights(_ probabilities: [Matrix], labels: [Int], classes: [Int]) -> [Double] {
        let chance = chanceMacroF1(labels: labels, classes: classes)
        let margins = probabilities.map { max(0, ClassificationMetrics(classes: classes, truth: labels, probabilities: $0).macroF1 - chance) }
        let total = margins.reduce(0, +)
        return total > 0 ? margins.map { $0 / total } : [Double](repeating: 1 / Double(probabilities.count), count: probabilities.count)
    }

    static func weightedSum(_ parts: [Matrix], weights: [Double]) -> Matrix {
        var sum = Matrix(rows: parts[0].rows, columns: parts[0].columns)
        for (part, weight) in zip(parts, weights) where weight > 0 {
            for i in sum.values.indices { sum.values[i] += weight * part.values[i] }
        }
        return sum
    }

    static func checkSameFolds(_ members: [ModelOutcome]) throws {
        guard let first = members.first else { return }
        for member in members.dropFirst() {
            guard member.classes == first.classes, member.folds.count == first.folds.count,
                  zip(member.folds, first.folds).allSatisfy({ $0.fold == $1.fold }) else {
                throw EvaluationError.invalidSetting(key: "ensemble", problem: "`\(member.name)` was not scored on the same folds as `\(first.name)`")
            }
        }
    }

    static func average(_ parts: [Matrix]) -> Matrix {
        var sum = parts[0]
        for part in parts.dropFirst() { for i in sum.values.indices { sum.values[i] += part.values[i] } }
        for i in sum.values.indices { sum.values[i] /= Double(parts.count) }
        return sum
    }

    /// Side by side: rows x (sum of columns).
    static func concatenate(_ parts: [Matrix]) -> Matrix {
        let rows = parts[0].rows
        let columns = parts.reduce(0) { $0 + $1.columns }
        var out = Matrix(rows: rows, columns: columns)
        var offset = 0
        for part in parts {
            for r in 0..<rows { for c in 0..<part.columns { out[r, offset + c] = part[r, c] } }
            offset += part.columns
        }
        return out
    }
}

func uniqueInOrder(_ items: [String]) -> [String] {
    var seen = Set<String>()
    return items.filter { seen.insert($0).inserted }
}
