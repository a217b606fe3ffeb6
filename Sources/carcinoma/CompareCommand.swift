// `carcinoma compare`: wiring only; the work is Evaluation.Comparison.

import ArgumentParser
import Evaluation
import FeatureStore
import Foundation
import Heads

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Cross-validate every feature set × head (and their ensembles); a table sorted by macro F1, results.json, oof_probabilities.csv.")

    @OptionGroup var input: LabelledFeatureOptions
    @OptionGroup var crossValidation: CrossValidationOptions

    @Option(help: "Comma-separated heads: \(HeadCatalog.names.joined(separator: ",")).")
    var heads: String = HeadCatalog.names.joined(separator: ",")

    @Option(help: "Solver of the softmax head and the stacking meta-learner: lbfgs (exact optimum) or adam.")
    var softmaxSolver: SoftmaxRegression.Solver = .lbfgs

    @Option(help: "argmax | offsets (per-class offsets on the log-probabilities, chosen per fold on the inner out-of-fold probabilities to maximise inner macro F1) | both (each row twice).")
    var decision: DecisionRule = .argmax

    @Option(help: "Stack rows, each fold from the members' inner out-of-fold probabilities: selection (ensemble selection, Caruana et al. 2004: forward selection with replacement on inner macro F1) | convex (weights maximising the inner likelihood) | softmax (a softmax meta-learner).")
    var stacking: StackingMethod = .selection

    @Flag(help: "Skip the ensemble rows (mean across feature sets, stacking).")
    var noEnsembles = false

    @Option(help: "Output folder.")
    var out: String = "runs/compare"

    @Option(help: "Also write every single model's inner out-of-fold and test probabilities per fold to this JSON file (for replaying ensemble rules, scripts/ensemble_replay.py).")
    var memberProbabilities: String?

    func run() throws {
        let prepared = try input.prepare()
        let directory = URL(fileURLWithPath: out)
        try checkOutputFile(directory.appendingPathComponent(ComparisonResults.fileName))
        let settings = crossValidation.settings
        report("compare: \(prepared.labels.ids.count) labelled images (\(prepared.unlabelledIDs.count) unlabelled), "
            + "\(prepared.featureSets.count) feature sets, heads \(heads), \(settings.foldCount) folds × \(settings.repeats) repeats")
        let (results, outcomes) = try Comparison.run(
            prepared,
            headsFor: { try HeadCatalog.specifications(heads, featureWidth: $0.data.labelled.columns, seed: settings.seed, softmaxSolver: softmaxSolver) },
            settings: settings, metaLearner: try HeadCatalog.metaLearner(seed: settings.seed, softmaxSolver: softmaxSolver), ensembles: !noEnsembles,
            decision: decision, stacking: stacking, labelsFormat: input.format, toolVersion: toolVersion, progress: report)
        try Comparison.writeOutputs(results, outcomes: outcomes, labels: prepared.labels, to: directory)
        if let memberProbabilities {
            let url = URL(fileURLWithPath: memberProbabilities)
            do { try writeAtomically(try MemberProbabilities(outcomes: outcomes, labels: prepared.labels.labels).encoded(), to: url) } catch {
                throw ValidationError("--member-probabilities \(url.path): cannot write: \(error.localizedDescription)")
            }
        }
        print(results.table())
        print(results.diagnosticsFooter())
        fflush(stdout)
        report("against chance: " + Report.chanceLine(results))
        for warning in Report.collapseWarnings(results) { report("warning: " + warning) }
        report(String(format: "wrote %@/results.json and oof_probabilities.csv (%.1f s)", out, results.wallSeconds))
    }
}

extension DecisionRule: ExpressibleByArgument {}
extension StackingMethod: ExpressibleByArgument {}
