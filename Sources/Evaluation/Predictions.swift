// Predictions for a submission from a chosen row of the comparison: one head on one feature set,
// the mean across feature sets, or a stack. Either the fold models' probabilities on the
// unlabelled images are averaged (the fold models of the same folds `compare` scored), or, with
// refit, one model per member is fit on all labelled rows (hyperparameters by CV on all of them).

import Foundation
import Heads
import LinearAlgebra

public enum EnsembleKind: String, Sendable, CaseIterable { case mean, stack }

public struct SubmissionPrediction: Sendable {
    public let name: String
    /// unlabelled rows x classes, rows in `PreparedComparison.unlabelledIDs` order.
    public let probabilities: Matrix
    /// The settings the member models used (per member, per fold).
    public let settings: [String]
}

public enum Predictions {
    public static func predict(_ input: PreparedComparison, heads: (PreparedFeatures) throws -> [HeadSpecification],
                               ensemble: EnsembleKind?, refit: Bool, settings: CrossValidationSettings,
                               metaLearner: any Classifier, decision: DecisionRule = .argmax,
                               stacking: StackingMethod = .selection) throws -> SubmissionPrediction {
        guard !input.unlabelledIDs.isEmpty else {
            throw EvaluationError.identifierMismatch(problem: "every feature row is labelled: nothing to predict (the unlabelled images are the feature ids not in the labels)")
        }
        if ensemble == nil && (input.featureSets.count != 1) {
            throw EvaluationError.invalidSetting(key: "feature-set", problem: "\(input.featureSets.count) feature sets (\(input.featureSets.map(\.info.name).joined(separator: ", "))): choose one with --feature-set or combine them with --ensemble mean|stack")
        }
        let labels = input.labels
        let folds = refit ? [Fold.all(labels.ids.count)]
            : try StratifiedFolds.make(labels: labels.labels, groups: labels.groups, foldCount: settings.foldCount,
                                       repeats: settings.repeats, seed: settings.seed, className: { labels.name(ofClass: $0) })
        var members: [ModelOutcome] = []
        for set in input.featureSets {
            for head in try heads(set) {
                members.append(try CrossValidation.run(name: "\(set.info.name) / \(head.name)", featureSet: set.info.name, head: head,
                                                       data: set.data, folds: folds, settings: settings,
                                                       innerProbabilitiesNeeded: ensemble != nil || decision == .offsets))
            }
        }
        if ensemble == nil && members.count != 1 {
            throw EvaluationError.invalidSetting(key: "head", problem: "name one head, or combine several with --ensemble mean|stack")
        }
        var outcome: ModelOutcome
        switch ensemble {
        case nil: outcome = members[0]
        case .mean?: outcome = try Ensembles.mean(name: "mean of \(members.count) models", members: members, labels: labels.labels)
        case .stack?:
            outcome = stacking != .softmax
                ? try Ensembles.weightedStack(name: "stack of \(members.count) models", members: members, labels: labels.labels, method: stacking)
                : try Ensembles.stack(name: "stack of \(members.count) models", members: members, labels: labels.labels,
                                      metaLearner: metaLearner, threads: settings.threads)
        }
        if decision == .offsets { outcome = DecisionOffsets.applying(to: outcome, labels: labels.labels) }
        guard let probabilities = outcome.averagedUnlabelledProbabilities else {
            throw EvaluationError.missingResult(problem: "no predictions for the unlabelled images")
        }
        return SubmissionPrediction(name: outcome.name, probabilities: probabilities,
                                    settings: members.flatMap { member in member.folds.map { "\(member.name): \($0.setting)" } })
    }
}
