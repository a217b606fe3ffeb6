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

    func run() throws {
        let loaded = try ComparisonResults.read(from: URL(fileURLWithPath: results, isDirectory: true))
        let written = try Report.write(loaded, to: URL(fileURLWithPath: out ?? results, isDirectory: true))
        print("wrote \(written.markdown.path) and \(written.html.path)")
    }
}
