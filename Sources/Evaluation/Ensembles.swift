// Ensembles scored on exactly the same folds as their members, so they are rows of the same table.
//   mean:  the average of the members' class probabilities (members share a head, differ in
//          backbone or view). Every head fits with balanced class weights, so the averaged
//          probabilities already respect the class balance (ANCHORS: an argmax of unbalanced
//          probabilities collapses to the majority class).
//   stack: a meta-learner (softmax regression, balanced) fit, per outer fold, on the members'
//          inner out-of-fold probabilities of the outer training rows, then applied to the
//          members' outer test probabilities: nested, so the outer rows stay unseen.

import Foundation
import Heads
import LinearAlgebra

public enum Ensembles {
    /// The mean of `members`' probabilities fold by fold. Members must come from the same folds.
    public static func mean(name: String, members: [ModelOutcome]) throws -> ModelOutcome {
        guard let first = members.first else { throw EvaluationError.invalidSetting(key: "ensemble", problem: "no members to average") }
        try checkSameFolds(members)
        var folds: [FoldOutcome] = []
        for index in first.folds.indices {
            let parts = members.map { $0.folds[index] }
            folds.append(FoldOutcome(
                fold: parts[0].fold,
                setting: "mean of \(members.count)",
                testProbabilities: average(parts.map(\.testProbabilities)),
                innerProbabilities: parts.allSatisfy { $0.innerProbabilities != nil } ? average(parts.compactMap(\.innerProbabilities)) : nil,
                unlabelledProbabilities: parts.allSatisfy { $0.unlabelledProbabilities != nil } ? average(parts.compactMap(\.unlabelledProbabilities)) : nil))
        }
        let heads = Array(Set(members.map(\.head))).sorted()
        return ModelOutcome(name: name, kind: "mean", head: heads.joined(separator: "+"),
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
            let inner = parts.compactMap(\.innerProbabilities)
            guard inner.count == parts.count else {
                throw EvaluationError.missingResult(problem: "stacking needs inner out-of-fold probabilities for every member "
                    + "(repeat \(fold.repeatIndex + 1), fold \(fold.foldIndex + 1) has a class too small for an inner split)")
            }
            let model = try metaLearner.fit(concatenate(inner), labels: fold.trainRows.map { labels[$0] }, sampleWeights: nil)
            let test = CrossValidation.expand(model.predictProba(concatenate(parts.map(\.testProbabilities))), from: model.classes, to: classes)
            let unlabelled: Matrix? = parts.allSatisfy { $0.unlabelledProbabilities != nil }
                ? CrossValidation.expand(model.predictProba(concatenate(parts.compactMap(\.unlabelledProbabilities))), from: model.classes, to: classes)
                : nil
            return FoldOutcome(fold: fold, setting: "stack of \(members.count)", testProbabilities: test,
                               innerProbabilities: nil, unlabelledProbabilities: unlabelled)
        }
        let heads = uniqueInOrder(members.map(\.head))
        return ModelOutcome(name: name, kind: "stack", head: heads.joined(separator: "+"),
                            featureSets: uniqueInOrder(members.flatMap(\.featureSets)), classes: classes, folds: folds)
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
