// Which row of a comparison a submission uses (`submit --head auto --results DIR`, and so `make run`),
// by one stated rule instead of "the top row":
//   among the rows the corrected resampled t-test cannot tell from the best row (Significance:
//   `indistinguishableFromBest`, p ≥ alpha), take the simplest; among equally simple rows, the one
//   with the highest mean macro F1 (then the table's order).
// Simplicity, compared in this order: fewer fitted models (a single head on one feature set is 1, a
// mean or stack counts its members); a mean before a stack (a stack adds weights chosen on the inner
// rows); argmax before decision offsets (offsets add one fitted value per class).
// This is the one-standard-error rule of Breiman, Friedman, Olshen & Stone 1984 (CART, §3.4.3) and
// Hastie, Tibshirani & Friedman, ESL §7.10, with the significance test in place of one standard error:
// when the folds cannot tell two models apart, the simpler one is the safer bet on new images (the top
// row is the maximum of many noisy estimates, biased upwards, and ensembles are the rows with the
// most chances to top the table). A results file written before the test existed has no marker: without
// the test's verdicts, the best single row is chosen.

import Foundation

public struct ModelChoice: Sendable, Equatable {
    /// The chosen row of the table.
    public let row: ResultRow
    /// 1-based position of the row in the table (sorted best first).
    public let rank: Int
    /// The rows the rule chose among (the chosen one included), best first.
    public let candidates: [ResultRow]
    /// One sentence naming the rule, for the report and the submit command's output.
    public let rule: String

    /// The feature sets, heads, ensemble kind and decision rule that rebuild the row in `submit`.
    public var featureSets: [String] { row.featureSets }
    public var heads: [String] { row.head.split(separator: "+").map(String.init) }
    public var ensemble: EnsembleKind? { EnsembleKind(rawValue: row.kind.rawValue) }
    public var decision: DecisionRule { row.decision.flatMap(DecisionRule.init(rawValue:)) ?? .argmax }

    /// (models, kind, decision): smaller is simpler. Models: members of an ensemble (feature sets × heads
    /// of the row), 1 for a single model.
    public static func complexity(of row: ResultRow) -> [Int] {
        let models = row.kind == .single ? 1 : max(1, row.featureSets.count) * max(1, row.head.split(separator: "+").count)
        let kindRank: Int
        switch row.kind {
        case .single: kindRank = 0
        case .mean: kindRank = 1
        case .stack: kindRank = 2
        }
        return [models, kindRank, row.decision == DecisionRule.offsets.rawValue ? 1 : 0]
    }

    public static let ruleText = "the simplest of the rows the corrected resampled t-test cannot tell from the best (p ≥ "
        + String(format: "%.2f", Significance.alpha) + "), simplest meaning fewest fitted models, then a mean before a stack, "
        + "then argmax before decision offsets; ties by mean macro F1"

    /// The choice for `results`, or nil when the table has no row.
    public static func choose(_ results: ComparisonResults) -> ModelChoice? {
        let rows = results.rows
        guard !rows.isEmpty else { return nil }
        let marked = rows.contains { $0.indistinguishableFromBest != nil }
        if !marked {
            guard let single = rows.first(where: { $0.kind == .single }) ?? rows.first,
                  let rank = rows.firstIndex(of: single) else { return nil }
            return ModelChoice(row: single, rank: rank + 1, candidates: [single],
                               rule: "the best single-model row (this results file has no significance marker)")
        }
        let candidates = rows.filter { $0.indistinguishableFromBest == true }
        let pool = candidates.isEmpty ? [rows[0]] : candidates
        // Stable: min by complexity, then the higher mean (pool is already sorted best first).
        var chosen = pool[0]
        for row in pool.dropFirst() {
            let a = complexity(of: row), b = complexity(of: chosen)
            if a.lexicographicallyPrecedes(b) { chosen = row }
        }
        let rank = (rows.firstIndex(of: chosen) ?? 0) + 1
        return ModelChoice(row: chosen, rank: rank, candidates: pool, rule: ruleText)
    }
}
