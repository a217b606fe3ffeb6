// The diagnostics of a comparison, where the user reads them: what each fold's model reported (Heads' Diagnostic:
// a solver stopped at its cap, a hyperparameter at a bound of its box, ...) and what the fold itself showed (a class
// absent from its training rows, a class never predicted on its test rows), kept per fold in results.json and
// tallied per results row as the number of folds in which each warning appeared: what scikit-learn would have
// printed once per fit as a ConvergenceWarning, said once per row under `compare`'s table and in the report.
// Only the model each outer fold scores with is counted: inner cross-validation fits that lose the selection do
// not reach the table. Ensemble rows report their own fits (a stacking meta-learner) and their own predictions,
// not their members' (those are the members' rows).

import Foundation
import Heads

/// One warning of a results row: its first occurrence (with its numbers) and the number of folds it appeared in.
public struct DiagnosticTally: Sendable, Codable, Equatable {
    public let first: Diagnostic
    public let folds: Int

    public init(first: Diagnostic, folds: Int) {
        self.first = first
        self.folds = folds
    }

    /// One tally per distinct warning (Diagnostic.key), in key order; a fold counts once per warning.
    public static func tally(_ perFold: [[Diagnostic]]) -> [DiagnosticTally] {
        var first: [Diagnostic.Key: Diagnostic] = [:], counts: [Diagnostic.Key: Int] = [:]
        for diagnostics in perFold {
            var seen = Set<Diagnostic.Key>()
            for diagnostic in diagnostics where seen.insert(diagnostic.key).inserted {
                if first[diagnostic.key] == nil { first[diagnostic.key] = diagnostic }
                counts[diagnostic.key, default: 0] += 1
            }
        }
        return first.keys.sorted().compactMap { key in first[key].map { DiagnosticTally(first: $0, folds: counts[key] ?? 0) } }
    }
}

extension Diagnostic {
    /// The source of what a fold shows around its fit.
    public static let crossValidationSource = "cross-validation"

    /// `label` has no row among the training rows of `fold`.
    static func classAbsentFromTraining(_ label: Int, fold: Fold) -> Diagnostic {
        Diagnostic(kind: .classAbsentFromTraining, source: crossValidationSource, classLabel: label,
                   message: "class \(label) has no row among the \(fold.trainRows.count) training rows of repeat \(fold.repeatIndex + 1), "
                       + "fold \(fold.foldIndex + 1): that fold's model gives it probability 0")
    }

    /// `label` is in the test rows of the fold (repeat, fold: 0-based) but predicted for none of them.
    static func classNeverPredicted(_ label: Int, support: Int, repeatIndex: Int, foldIndex: Int) -> Diagnostic {
        Diagnostic(kind: .classNeverPredicted, source: crossValidationSource, classLabel: label,
                   message: "class \(label) was predicted for none of its \(support) test rows in repeat \(repeatIndex + 1), fold \(foldIndex + 1) "
                       + "(its F1 there is 0)")
    }
}

extension ComparisonResults {
    /// A class label as the table names it.
    func className(_ label: Int) -> String {
        classes.firstIndex(of: label).map { classNames[$0] } ?? String(label)
    }

    /// Rows with at least one warning, in table order, with their tallies.
    public var rowsWithDiagnostics: [(row: ResultRow, tallies: [DiagnosticTally])] {
        rows.compactMap { row in row.diagnostics.flatMap { $0.isEmpty ? nil : (row, $0) } }
    }

    /// Whether the results were written before diagnostics were kept (no row carries the field).
    public var diagnosticsRecorded: Bool { rows.isEmpty || rows.contains { $0.diagnostics != nil } }

    /// What `compare` prints under its table: per row, one line per warning, the warnings about single classes
    /// gathered on one line ("classes never predicted on the test rows: debris 4/15, stroma 1/15").
    public func diagnosticsFooter() -> String {
        guard diagnosticsRecorded else { return "diagnostics: not recorded (results written before carcinoma kept them)" }
        let flagged = rowsWithDiagnostics
        guard !flagged.isEmpty else { return "diagnostics: none (" + Self.noDiagnosticsText + ")" }
        var lines = ["diagnostics (in how many folds each warning appeared; every message, per fold, in results.json):"]
        let width = flagged.map(\.row.name.count).max() ?? 0
        for (row, tallies) in flagged {
            var groups: [(key: Diagnostic.Key, tallies: [DiagnosticTally])] = []
            for tally in tallies {
                let key = tally.first.key.withoutClass
                if let index = groups.firstIndex(where: { $0.key == key }) { groups[index].tallies.append(tally) } else { groups.append((key, [tally])) }
            }
            for (key, members) in groups {
                let counts = members.map { tally in
                    (tally.first.classLabel.map { className($0) + " " } ?? "") + "\(tally.folds)/\(row.folds.count)" + (tally.first.classLabel == nil ? " folds" : "")
                }
                lines.append("  " + row.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                    + key.headline(className: className) + ": " + counts.joined(separator: ", "))
            }
        }
        return lines.joined(separator: "\n")
    }

    static let noDiagnosticsText = "every solver converged within its cap, no tuned hyperparameter ended at a bound, "
        + "every class was in every training fold and predicted in every test fold"
}

extension Report {
    static let diagnosticsIntroduction = "What the fold models reported (scikit-learn would print these as ConvergenceWarning) and what each "
        + "fold showed, counted as the folds in which each appeared; results.json keeps every message per fold. Only the model each "
        + "outer fold scores with is counted; ensemble rows count their own fits and predictions, not their members'."

    static func diagnosticsMarkdown(_ results: ComparisonResults) -> String {
        var text = "## Diagnostics\n\n"
        guard results.diagnosticsRecorded else { return text + "Not recorded: these results were written before carcinoma kept diagnostics.\n\n" }
        let flagged = results.rowsWithDiagnostics
        guard !flagged.isEmpty else { return text + "None: " + ComparisonResults.noDiagnosticsText + ".\n\n" }
        text += diagnosticsIntroduction + "\n\n| model | folds | warning | first message |\n|---|---|---|---|\n"
        for (row, tallies) in flagged {
            for tally in tallies {
                text += "| \(row.name) | \(tally.folds)/\(row.folds.count) | \(tally.first.key.headline(className: results.className)) | "
                    + "\(tally.first.message.replacingOccurrences(of: "|", with: "\\|")) |\n"
            }
        }
        return text + "\n"
    }

    static func diagnosticsHTML(_ results: ComparisonResults) -> String {
        var text = "<h2>Diagnostics</h2>\n"
        guard results.diagnosticsRecorded else { return text + "<p>Not recorded: these results were written before carcinoma kept diagnostics.</p>\n" }
        let flagged = results.rowsWithDiagnostics
        guard !flagged.isEmpty else { return text + "<p>None: \(escape(ComparisonResults.noDiagnosticsText)).</p>\n" }
        text += "<p>\(escape(diagnosticsIntroduction))</p>\n<table><tr><th>model</th><th>folds</th><th>warning</th><th>first message</th></tr>\n"
        for (row, tallies) in flagged {
            for tally in tallies {
                text += "<tr><td class=\"name\">\(escape(row.name))</td><td>\(tally.folds)/\(row.folds.count)</td>"
                    + "<td class=\"name\">\(escape(tally.first.key.headline(className: results.className)))</td>"
                    + "<td class=\"name\">\(escape(tally.first.message))</td></tr>\n"
            }
        }
        return text + "</table>\n"
    }
}
