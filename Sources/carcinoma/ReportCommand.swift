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

    func run() throws {
        let loaded = try ComparisonResults.read(from: URL(fileURLWithPath: results, isDirectory: true))
        if bestSingle {
            guard let row = loaded.bestSingleRow, let set = row.featureSets.first else {
                throw ValidationError("\(results): no single-model row")
            }
            print("\(set) \(row.head)")
            return
        }
        let written = try Report.write(loaded, to: URL(fileURLWithPath: out ?? results, isDirectory: true))
        print("wrote \(written.markdown.path) and \(written.html.path)")
    }
}
