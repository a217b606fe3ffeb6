// `carcinoma report`: wiring only; the rendering is Evaluation.Report.

import ArgumentParser
import Evaluation
import Foundation

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write report.md and a self-contained report.html (inline SVG) from a compare output folder.")

    @Option(help: "The folder `compare --out` wrote (holding results.json).")
    var results: String

    @Option(help: "Where to write the reports (default: the results folder).")
    var out: String?

    @Flag(help: "Only print the feature set and head of the best single-model row (for scripts), then stop.")
    var bestSingle = false

    @Flag(help: "Only print the decision rule (argmax or offsets) of the best single-model row (for scripts), then stop.")
    var bestSingleDecision = false

    @Option(help: "A submission written by `submit` whose images' true labels are known (held out from its training): scored in the report, with --truth.")
    var submission: String?

    @Option(help: "Labels CSV holding the true label of every --submission row (same columns as the comparison's labels).")
    var truth: String?

    func validate() throws {
        if (submission == nil) != (truth == nil) { throw ValidationError("--submission and --truth go together") }
    }

    func run() throws {
        let loaded = try ComparisonResults.read(from: URL(fileURLWithPath: results, isDirectory: true))
        if bestSingleDecision {
            guard let row = loaded.bestSingleRow else { throw ValidationError("\(results): no single-model row") }
            print(row.decision ?? "argmax")
            return
        }
        if bestSingle {
            guard let row = loaded.bestSingleRow, let set = row.featureSets.first else {
                throw ValidationError("\(results): no single-model row")
            }
            print("\(set) \(row.head)")
            return
        }
        var heldOut: HeldOutScore?
        if let submission, let truth {
            let format = LabelsFormat(idColumn: loaded.labels.idColumn, labelColumn: loaded.labels.labelColumn, allowedLabels: nil,
                                      namedLabels: loaded.labels.namedLabels)
            heldOut = try Submission.score(URL(fileURLWithPath: submission),
                                           truth: LabelTable.read(URL(fileURLWithPath: truth), format: format), format: format)
        }
        let written = try Report.write(loaded, to: URL(fileURLWithPath: out ?? results, isDirectory: true), heldOut: heldOut)
        if let heldOut { print("held out: " + heldOut.summary) }
        print("wrote \(written.markdown.path) and \(written.html.path)")
    }
}
