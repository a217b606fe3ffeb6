// `carcinoma submit`: wiring only; predictions are Evaluation.Predictions, the file and its check Evaluation.Submission.

import ArgumentParser
import Evaluation
import Foundation
import Heads

extension EnsembleKind: ExpressibleByArgument {}
extension SoftmaxRegression.Solver: ExpressibleByArgument {}

struct SubmitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Write submission.csv (and probabilities.csv beside it) for the unlabelled images, or --check a submission.")

    @Option(help: "Check this submission file against --labels and --images instead of writing one.")
    var check: String?

    @Option(help: "A feature cache folder or one .npy file (not needed with --check).")
    var features: String?

    @OptionGroup var selection: FeatureSelectionOptions
    @OptionGroup var labelling: LabelsOptions

    @Option(help: "The image folder: the test images are its images minus the labelled ids.")
    var images: String

    @Option(help: "Head (or comma-separated heads with --ensemble): \(HeadCatalog.names.joined(separator: ",")); or `auto` with --results: the row ModelChoice picks (the simplest row indistinguishable from the best).")
    var head: String?

    @Option(help: "With --head auto: the folder `compare --out` wrote; its table chooses the feature sets, heads, ensemble and decision rule.")
    var results: String?

    @Option(help: "Solver of the softmax head and the stacking meta-learner: lbfgs (exact optimum) or adam.")
    var softmaxSolver: SoftmaxRegression.Solver = .lbfgs

    @Option(help: "Combine several feature sets (and heads): mean of probabilities, or a stacked softmax meta-learner.")
    var ensemble: EnsembleKind?

    @Option(help: "argmax, or offsets: per-class offsets chosen per fold on the inner out-of-fold probabilities (as compare --decision).")
    var decision: DecisionRule = .argmax

    @Option(help: "With --ensemble stack: selection (ensemble selection on the inner out-of-fold probabilities), convex (inner likelihood weights) or softmax (meta-learner). With --head auto: the results' own.")
    var stacking: StackingMethod = .selection

    @Flag(help: "Fit once on all labelled images instead of averaging the fold models.")
    var refit = false

    @OptionGroup var crossValidation: CrossValidationOptions

    @Option(help: "The submission file to write; probabilities.csv goes beside it.")
    var out: String = "submission.csv"

    var format: LabelsFormat { labelling.format }

    func validate() throws {
        try selection.check(features: features)
        if decision == .both { throw ValidationError("--decision is argmax or offsets for a submission") }
        if check == nil {
            if features == nil { throw ValidationError("--features is required to write a submission") }
            if head == nil { throw ValidationError("--head is required to write a submission") }
            if (head == "auto") != (results != nil) { throw ValidationError("--head auto and --results go together") }
            if head == "auto" && (selection.featureSet != nil || ensemble != nil || decision != .argmax) {
                throw ValidationError("--head auto takes the feature sets, ensemble and decision rule from --results; give none of them")
            }
        }
    }

    func run() throws {
        let labels = labelling.labels
        let table = try LabelTable.read(URL(fileURLWithPath: labels), format: format)
        let imageIDs = try Submission.imageIDs(in: URL(fileURLWithPath: images))
        if let check {
            let summary = try Submission.validate(URL(fileURLWithPath: check), labels: table, images: imageIDs, format: format)
            print("\(check): valid, \(summary.rows) rows; " + summary.counts.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))
            return
        }
        guard let features, var head else { return }
        var featureSet = selection.featureSet, ensemble = self.ensemble, decision = self.decision, stacking = self.stacking
        if head == "auto", let results {
            let comparison = try ComparisonResults.read(from: URL(fileURLWithPath: results, isDirectory: true))
            guard let choice = ModelChoice.choose(comparison) else {
                throw ValidationError("\(results): the table has no row")
            }
            (featureSet, head, ensemble, decision) = (choice.featureSets.joined(separator: ","), choice.heads.joined(separator: ","), choice.ensemble, choice.decision)
            stacking = comparison.stacking ?? stacking
            print("--head auto: row \(choice.rank) `\(choice.row.name)` (macro F1 \(String(format: "%.3f", choice.row.macroF1.mean))), chosen among "
                + "\(choice.candidates.count) rows as \(choice.rule)")
        }
        let prepared = try selection.prepare(features: features, labelling: labelling, featureSet: featureSet)
        try prepared.requireUnlabelledIDs(try Submission.expectedIDs(images: imageIDs, labels: table, source: images), imagesFolder: images)
        let url = URL(fileURLWithPath: out)
        // Writing the predictions over --labels would make the next compare train on them.
        try refuseOutputsThatAreInputs([("--out", url), ("--out (probabilities.csv beside it)", Submission.probabilitiesURL(for: url))],
                                       inputs: [("--labels", labels), ("--features", features), ("--ids", selection.ids)])
        try checkOutputFile(url)
        try checkOutputFile(Submission.probabilitiesURL(for: url))
        let settings = crossValidation.settings
        let prediction = try Predictions.predict(
            prepared,
            heads: { try HeadCatalog.specifications(head, featureWidth: $0.data.labelled.columns, seed: settings.seed, softmaxSolver: softmaxSolver) },
            ensemble: ensemble, refit: refit, settings: settings, metaLearner: try HeadCatalog.metaLearner(seed: settings.seed, softmaxSolver: softmaxSolver),
            decision: decision, stacking: stacking)
        let written = try Submission.write(ids: prepared.unlabelledIDs, probabilities: prediction.probabilities,
                                           classes: prepared.labels.classes, labels: prepared.labels, format: format, to: url)
        let summary = try Submission.validate(url, labels: table, images: imageIDs, format: format)
        var counts: [Int: Int] = [:]
        for label in written { counts[label, default: 0] += 1 }
        print("\(out): \(summary.rows) rows from \(prediction.name) (\(refit ? "refit on all labelled images" : "mean of \(settings.foldCount * settings.repeats) fold models")); "
            + "predicted " + prepared.labels.classes.map { "\(prepared.labels.name(ofClass: $0)): \(counts[$0] ?? 0)" }.joined(separator: ", ")
            + "; validated; probabilities in \(Submission.probabilitiesURL(for: url).path)")
    }
}
