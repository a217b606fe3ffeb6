// The report of a comparison: Markdown for reading in a terminal or a repository, and one
// self-contained HTML file (inline CSS and SVG, no scripts, no network) with the plots:
// per-fold macro F1 dots with mean ± sd bars per model, and pooled confusion matrices as heat maps.

import Foundation
import FeatureStore

public enum Report {
    /// How many of the best rows get a confusion-matrix heat map.
    public static let confusionCount = 6

    public static func markdown(_ results: ComparisonResults, heldOut: HeldOutScore? = nil) -> String {
        var text = "# carcinoma comparison\n\n"
        text += "> **Fold noise.** " + noiseWarning(results) + "\n\n"
        text += "**Against chance.** " + chanceLine(results) + "\n\n"
        for warning in collapseWarnings(results) { text += "> **One class only.** " + warning + "\n\n" }
        text += "## The submitted model\n\n" + submissionText(results) + "\n\n"
        if let heldOut { text += "**Held out.** " + heldOutText(heldOut) + "\n\n" }
        text += "## Settings and provenance\n\n"
        for (key, value) in provenance(results) { text += "- **\(key)**: \(value)\n" }
        text += "\n### Feature sets\n\n| name | backbone | view | TTA | weights | SHA-256 | rows × width | extractor |\n|---|---|---|---|---|---|---|---|\n"
        for set in results.featureSets {
            text += "| \(set.name) | \(set.backbone ?? "–") | \(viewText(set)) | \(set.tta ?? "none") | \(set.weightsFile ?? "–") | "
                + "\(set.weightsSHA256.map { "`\($0.prefix(16))…`" } ?? "–") | \(set.rows) × \(set.width) | \(set.extractorVersion ?? "–") |\n"
        }
        text += "\n### Head grids (chosen by inner \(results.settings.innerFoldCount)-fold CV on the training folds)\n\n"
        for (head, grid) in results.headGrids.sorted(by: { $0.key < $1.key }) {
            text += "- **\(head)**: " + grid.map { "`\($0)`" }.joined(separator: ", ") + "\n"
        }
        text += "\n## Comparison (sorted by mean macro F1 over \(results.rows.first?.folds.count ?? 0) folds)\n\n"
        text += rulesText(results) + "\n\n"
        text += "| # | model | macro F1 mean ± sd | ≈ best (p) | pooled macro F1 [95% CI] | accuracy | weighted F1 | balanced acc. | log loss | per-class F1 (pooled) | never predicted | most chosen setting |\n"
        text += "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
        for (index, row) in results.rows.enumerated() {
            text += "| \(index + 1) | \(row.name) | \(format(row.macroF1)) | \(ComparisonResults.sameAsBestText(row)) | \(f3(row.pooled.macroF1))\(ComparisonResults.intervalText(row)) | \(format(row.microF1)) | \(format(row.weightedF1)) | "
                + "\(format(row.balancedAccuracy)) | \(format(row.logLoss)) | \(perClass(row, results)) | \(never(row, results)) | \(mostChosen(row)) |\n"
        }
        text += "\n" + diagnosticsMarkdown(results)
        text += "## Pooled confusion matrices (rows: true class, columns: predicted; all repeats)\n\n"
        for row in results.rows.prefix(confusionCount) {
            text += "**\(row.name)**\n\n| true \\ predicted | " + results.classNames.joined(separator: " | ") + " |\n|---|"
                + String(repeating: "---|", count: results.classNames.count) + "\n"
            for (i, name) in results.classNames.enumerated() {
                text += "| \(name) | " + row.pooled.confusion[i].map(String.init).joined(separator: " | ") + " |\n"
            }
            text += "\n"
        }
        text += "## Class counts per test fold (repeat 1)\n\n" + classCountsMarkdown(results)
        text += "\nThe HTML report (report.html) has the per-fold F1 plot and the confusion heat maps.\n"
        return text
    }

    /// How to read the significance column and the interval, and the rules of the offset and ensemble rows.
    public static func rulesText(_ results: ComparisonResults) -> String {
        var text = "**≈ best (p)**: the corrected resampled t-test (Nadeau & Bengio 2003; Bouckaert & Frank 2004 for repeated CV) "
            + "of each row's per-fold macro F1 against the best row's on the same folds; ≈ marks rows the test cannot tell from the best "
            + String(format: "(p ≥ %.2f). ", Significance.alpha)
            + "**95% CI**: percentile bootstrap of the pooled out-of-fold macro F1 over \(Significance.bootstrapResamples) resamples of the images."
        if results.rows.contains(where: { $0.decision == DecisionRule.offsets.rawValue }) {
            text += " **+ offsets** rows: per-class offsets added to the log-probabilities before the argmax, chosen in each outer fold "
                + "on that fold's inner out-of-fold probabilities (grid −3…3 step 0.1) to maximise the inner macro F1; the outer test rows are never used."
        }
        if results.rows.contains(where: { $0.kind == .mean }) {
            text += " **mean** rows: members' probabilities averaged with weights ∝ max(0, inner macro F1 − chance) per fold "
                + "(chance: a uniform random guess at the class frequencies), so members no better than chance are dropped."
        }
        if results.rows.contains(where: { $0.kind == .stack }) {
            text += " **stack** rows: " + stackRuleText(results.stacking)
        }
        return text
    }

    /// How the stack rows chose their weights, for the rules paragraph.
    static func stackRuleText(_ method: StackingMethod?) -> String {
        let never = " The outer test rows are never used."
        switch method {
        case .selection?:
            return "ensemble selection (Caruana et al. 2004) per fold on the members' inner out-of-fold probabilities: "
                + "\(Ensembles.selectionSteps) steps of forward selection with replacement, each adding the member that gives the average the "
                + "highest inner macro F1 (ties: lower class-balanced log loss), weights = the selection counts of the best prefix; "
                + "it starts from the inner-best member alone, so a member that never improves the average gets weight 0." + never
                + " Weights chosen by inner scores on a few dozen rows are noisy: on OxML no such rule beat the plain mean on average."
        case .convex?:
            return "per fold, the convex combination of the members' probabilities (weights ≥ 0, summing to 1) maximising the "
                + "class-balanced log-likelihood of their inner out-of-fold probabilities (Ting & Witten 1999)." + never
        case .softmax?:
            return "per fold, a softmax meta-learner fit on the members' inner out-of-fold probabilities." + never
        case nil:
            return "weights chosen per fold on the members' inner out-of-fold probabilities (this results file does not record the rule)." + never
        }
    }

    public static func html(_ results: ComparisonResults, heldOut: HeldOutScore? = nil) -> String {
        var body = "<h1>carcinoma comparison</h1>\n"
        body += "<p class=\"warning\"><strong>Fold noise.</strong> \(escape(noiseWarning(results)))</p>\n"
        body += "<p><strong>Against chance.</strong> \(codeSpans(escape(chanceLine(results))))</p>\n"
        for warning in collapseWarnings(results) { body += "<p class=\"warning\"><strong>One class only.</strong> \(codeSpans(escape(warning)))</p>\n" }
        body += "<h2>The submitted model</h2>\n<p>\(codeSpans(escape(submissionText(results))))</p>\n"
        if let heldOut { body += "<p><strong>Held out.</strong> \(codeSpans(escape(heldOutText(heldOut))))</p>\n" }
        body += "<h2>Comparison</h2>\n<p>Sorted by mean macro F1 over \(results.rows.first?.folds.count ?? 0) folds "
            + "(\(results.settings.foldCount)-fold stratified × \(results.settings.repeats) repeats). Pooled: all out-of-fold predictions together.</p>\n"
        body += "<p>\(escape(rulesText(results)))</p>\n"
        body += "<table><tr><th>#</th><th>model</th><th>macro F1 mean ± sd</th><th>≈ best (p)</th><th>pooled macro F1 [95% CI]</th><th>accuracy</th><th>weighted F1</th>"
            + "<th>balanced acc.</th><th>log loss</th><th>per-class F1 (pooled)</th><th>never predicted</th><th>most chosen setting</th></tr>\n"
        for (index, row) in results.rows.enumerated() {
            body += "<tr><td>\(index + 1)</td><td class=\"name\">\(escape(row.name))</td><td>\(format(row.macroF1))</td>"
                + "<td>\(escape(ComparisonResults.sameAsBestText(row)))</td><td>\(f3(row.pooled.macroF1))\(escape(ComparisonResults.intervalText(row)))</td>"
                + "<td>\(format(row.microF1))</td><td>\(format(row.weightedF1))</td><td>\(format(row.balancedAccuracy))</td><td>\(format(row.logLoss))</td>"
                + "<td>\(escape(perClass(row, results)))</td><td class=\"flag\">\(escape(never(row, results)))</td><td>\(escape(mostChosen(row)))</td></tr>\n"
        }
        body += "</table>\n" + diagnosticsHTML(results)
        body += "<h2>Macro F1 per fold</h2>\n<p>Each dot is one test fold (colour: repeat); the bar spans mean ± sd, the tick is the mean; "
            + "the dashed line is the majority-class baseline.</p>\n" + foldPlot(results)
        body += "<h2>Pooled confusion matrices</h2>\n<p>Rows: true class, columns: predicted class; all repeats summed. "
            + "Shade: fraction of the true class (row-normalised recall).</p>\n<div class=\"grid\">"
        for row in results.rows.prefix(confusionCount) { body += confusionHeatMap(row, results) }
        body += "</div>\n<h2>Class counts per test fold (repeat 1)</h2>\n" + classCountsHTML(results)
        body += "<h2>Settings and provenance</h2>\n<table class=\"meta\">"
        for (key, value) in provenance(results) { body += "<tr><th>\(escape(key))</th><td>\(escape(value))</td></tr>" }
        body += "</table>\n<h3>Feature sets</h3>\n<table><tr><th>name</th><th>backbone</th><th>view</th><th>TTA</th><th>weights</th><th>SHA-256</th><th>rows × width</th><th>extractor</th></tr>"
        for set in results.featureSets {
            body += "<tr><td>\(escape(set.name))</td><td>\(escape(set.backbone ?? "–"))</td><td>\(escape(viewText(set)))</td><td>\(escape(set.tta ?? "none"))</td>"
                + "<td>\(escape(set.weightsFile ?? "–"))</td><td class=\"hash\">\(escape(set.weightsSHA256 ?? "–"))</td><td>\(set.rows) × \(set.width)</td>"
                + "<td>\(escape(set.extractorVersion ?? "–"))</td></tr>"
        }
        body += "</table>\n<h3>Head grids</h3>\n<ul>"
        for (head, grid) in results.headGrids.sorted(by: { $0.key < $1.key }) {
            body += "<li><strong>\(escape(head))</strong>: \(escape(grid.joined(separator: "; ")))</li>"
        }
        body += "</ul>\n"
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>carcinoma comparison</title>
        <style>
        body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px; color: #222; max-width: 1400px; }
        table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
        th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
        th { background: #f2f2f2; } td.name, th:first-child { text-align: left; }
        td.flag { color: #b00; } table.meta td { text-align: left; } td.hash { font-family: monospace; font-size: 11px; }
        .warning { background: #fff4d6; border-left: 4px solid #e0a000; padding: 8px 12px; }
        .grid { display: flex; flex-wrap: wrap; gap: 16px; }
        svg text { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
        </style></head><body>
        \(body)</body></html>

        """
    }

    /// Writes report.md and report.html into `directory` as one group: when either cannot be written
    /// in full, both previous reports stay byte-identical (see `writeAtomically(_:)`).
    public static func write(_ results: ComparisonResults, to directory: URL, heldOut: HeldOutScore? = nil) throws -> (markdown: URL, html: URL) {
        let markdownURL = directory.appendingPathComponent("report.md"), htmlURL = directory.appendingPathComponent("report.html")
        try createOutputFolder(directory)
        try writeAtomically([(Data(markdown(results, heldOut: heldOut).utf8), markdownURL), (Data(html(results, heldOut: heldOut).utf8), htmlURL)])
        return (markdownURL, htmlURL)
    }

    // MARK: pieces

    static func noiseWarning(_ results: ComparisonResults) -> String {
        let n = results.labels.labelledCount, k = results.settings.foldCount
        let sds = results.rows.map(\.macroF1.standardDeviation)
        let typical = sds.isEmpty ? 0 : sds.sorted()[sds.count / 2]
        return "With \(n) labelled images a test fold holds only about \(n / max(k, 1)) images, so one fold's F1 is very noisy "
            + String(format: "(median sd across folds here: %.3f). ", typical)
            + "Differences between models smaller than about two standard errors of the mean "
            + String(format: "(%.3f for %d folds) ", results.noiseBand, results.rows.first?.folds.count ?? 0)
            + "are not evidence of a better model; repeated CV and the pooled out-of-fold F1 are the steadier numbers, "
            + "and hyperparameters chosen by the inner CV vary from fold to fold."
    }

    /// The best row's pooled accuracy and macro F1 beside what guessing scores: accuracy of always answering the
    /// largest class (1/K for balanced classes) and the macro F1 of that constant answer.
    public static func chanceLine(_ results: ComparisonResults) -> String {
        guard let best = results.rows.first else { return "no model rows" }
        let chance = results.chance
        return "best row \(best.name): pooled accuracy \(f3(best.pooled.accuracy)) and pooled macro F1 \(f3(best.pooled.macroF1)) "
            + "over \(results.labels.labelledCount) labelled images in \(results.classes.count) classes; chance (always the largest class) "
            + "scores accuracy \(f3(chance.accuracy)) and macro F1 \(f3(chance.macroF1))."
    }

    /// A warning for every row whose out-of-fold predictions are all one class: such a head learned nothing
    /// (typically too few images per class for its inner cross-validation or its probability calibration).
    public static func collapseWarnings(_ results: ComparisonResults) -> [String] {
        let collapsed = results.rows.filter { $0.predictsOneClass(classCount: results.classes.count) }
        guard !collapsed.isEmpty else { return [] }
        let smallest = results.classCounts.min() ?? 0, folds = results.settings.foldCount
        return ["\(collapsed.map(\.name).joined(separator: ", ")) predicted a single class for every held-out image: "
            + "\(collapsed.count == 1 ? "this head" : "these heads") learned nothing here. The smallest class has \(smallest) labelled images, "
            + "so a training fold holds about \(smallest - smallest / max(folds, 1)) of it and the inner \(results.settings.innerFoldCount)-fold CV "
            + "(hyperparameters, SVM probability calibration) sees fewer still; treat these rows as failed fits, not as scores."]
    }

    /// Which row `make run` submits (`carcinoma submit --head auto --results DIR`, ModelChoice) and by which rule.
    static func submissionText(_ results: ComparisonResults) -> String {
        guard let choice = ModelChoice.choose(results) else { return "The table has no row: nothing to submit." }
        let row = choice.row
        var text = "`make run` submits row \(choice.rank), \(row.name) (macro F1 \(format(row.macroF1))), with "
            + "`carcinoma submit --head auto --results <this folder>`, chosen as \(choice.rule). "
        if choice.candidates.count > 1 {
            let others = choice.candidates.count - 1
            text += "The test could not tell \(others) other row\(others == 1 ? "" : "s") from the best"
                + (choice.rank == 1 ? "" : " (the best: \(results.rows[0].name), \(format(results.rows[0].macroF1)))") + "; "
                + "the top row is the maximum of many noisy estimates (biased upwards, and ensembles have the most chances to top the table), "
                + "so among rows the folds cannot tell apart the simplest is the safer bet on new images. "
        }
        let ensemble = choice.ensemble.map { " --ensemble \($0.rawValue)" } ?? ""
        let decision = choice.decision == .argmax ? "" : " --decision \(choice.decision.rawValue)"
        text += "The same model by hand: `carcinoma submit --feature-set \(choice.featureSets.joined(separator: ",")) "
            + "--head \(choice.heads.joined(separator: ","))\(ensemble)\(decision)`."
        return text
    }

    /// The submission scored on labels kept out of its training (`report --submission --truth`).
    static func heldOutText(_ score: HeldOutScore) -> String {
        "`\(score.submission)` scored against `\(score.truth)`: " + score.summary + "."
    }

    static func provenance(_ results: ComparisonResults) -> [(String, String)] {
        let counts = zip(results.classNames, results.classCounts).map { "\($0): \($1)" }.joined(separator: ", ")
        return [
            ("tool", "carcinoma \(results.toolVersion) (results format \(results.formatVersion))"),
            ("created", "\(results.created) on \(results.host), \(String(format: "%.1f", results.wallSeconds)) s"),
            ("labels", "\(results.labels.file) (id column `\(results.labels.idColumn)`, label column `\(results.labels.labelColumn)`"
                + (results.labels.namedLabels ? ", names mapped to classes in sorted order" : "")
                + (results.labels.groupColumn.map { ", groups from `\($0)`" } ?? "") + ")"),
            ("images", "\(results.labels.labelledCount) labelled, \(results.labels.unlabelledCount) unlabelled; ids matched by rule `\(results.labels.alignmentRule)`"),
            ("classes", counts),
            ("cross-validation", "stratified\(results.labels.groupColumn == nil ? "" : " group-aware") \(results.settings.foldCount)-fold × "
                + "\(results.settings.repeats) repeats, seed \(results.settings.seed) (repeat seeds derived by SplitMix64); inner "
                + "\(results.settings.innerFoldCount)-fold CV for hyperparameters; \(results.settings.threads) threads"),
            ("backbones", uniqueInOrder(results.featureSets.compactMap(\.backbone)).joined(separator: ", ")),
            ("views", uniqueInOrder(results.featureSets.map(viewText)).joined(separator: ", ")),
        ]
    }

    static func viewText(_ set: FeatureSetInfo) -> String {
        guard let view = set.view else { return "–" }
        let parameters = (set.viewParameters ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return parameters.isEmpty ? view : "\(view) (\(parameters.joined(separator: ", ")))"
    }

    static func f3(_ value: Double) -> String { value.isFinite ? String(format: "%.3f", value) : "–" }
    static func format(_ summary: MetricSummary) -> String { "\(f3(summary.mean)) ± \(f3(summary.standardDeviation))" }

    static func perClass(_ row: ResultRow, _ results: ComparisonResults) -> String {
        zip(results.classNames, row.pooled.perClassF1).map { "\($0) \(f3($1))" }.joined(separator: ", ")
    }

    static func never(_ row: ResultRow, _ results: ComparisonResults) -> String {
        row.pooled.neverPredicted.compactMap { c in results.classes.firstIndex(of: c).map { results.classNames[$0] } }.joined(separator: ", ")
    }

    static func mostChosen(_ row: ResultRow) -> String {
        guard let best = row.chosenSettings.max(by: { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key }) else { return "" }
        return row.chosenSettings.count == 1 ? best.key : "\(best.key) (\(best.value)/\(row.folds.count))"
    }

    static func firstRepeatFolds(_ results: ComparisonResults) -> [FoldScore] {
        (results.rows.first?.folds ?? []).filter { $0.repeatIndex == 0 }
    }

    static func classCountsMarkdown(_ results: ComparisonResults) -> String {
        let folds = firstRepeatFolds(results)
        var text = "| class | " + folds.map { "fold \($0.foldIndex + 1)" }.joined(separator: " | ") + " | total |\n|---|"
            + String(repeating: "---|", count: folds.count + 1) + "\n"
        for (c, name) in results.classNames.enumerated() {
            text += "| \(name) | " + folds.map { String($0.testClassCounts[c]) }.joined(separator: " | ") + " | \(results.classCounts[c]) |\n"
        }
        return text
    }

    static func classCountsHTML(_ results: ComparisonResults) -> String {
        let folds = firstRepeatFolds(results)
        var text = "<table><tr><th>class</th>" + folds.map { "<th>fold \($0.foldIndex + 1)</th>" }.joined() + "<th>total</th></tr>"
        for (c, name) in results.classNames.enumerated() {
            text += "<tr><td class=\"name\">\(escape(name))</td>" + folds.map { "<td>\($0.testClassCounts[c])</td>" }.joined()
                + "<td>\(results.classCounts[c])</td></tr>"
        }
        return text + "</table>\n"
    }

    /// One line per model: fold dots (jittered vertically by repeat), mean ± sd bar, x axis macro F1 in [0, 1].
    static func foldPlot(_ results: ComparisonResults) -> String {
        let labelWidth = 330.0, plotWidth = 560.0, rowHeight = 22.0, top = 28.0
        let height = top + rowHeight * Double(results.rows.count) + 30
        let width = labelWidth + plotWidth + 70
        func x(_ value: Double) -> Double { labelWidth + max(0, min(1, value)) * plotWidth }
        let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\">\n"
        svg += "<rect x=\"0\" y=\"0\" width=\"\(Int(width))\" height=\"\(Int(height))\" fill=\"white\"/>\n"
        for tick in stride(from: 0.0, through: 1.0, by: 0.1) {
            let tx = x(tick)
            svg += "<line x1=\"\(r(tx))\" y1=\"\(r(top - 6))\" x2=\"\(r(tx))\" y2=\"\(r(height - 26))\" stroke=\"#e4e4e4\"/>"
            svg += "<text x=\"\(r(tx))\" y=\"\(r(top - 10))\" font-size=\"10\" text-anchor=\"middle\" fill=\"#555\">\(String(format: "%.1f", tick))</text>\n"
        }
        svg += "<text x=\"\(r(x(0.5)))\" y=\"\(r(height - 8))\" font-size=\"12\" text-anchor=\"middle\">macro F1 per test fold</text>\n"
        // Majority-class baseline: F1 of always predicting the largest class, macro-averaged.
        let total = Double(results.classCounts.reduce(0, +))
        if let largest = results.classCounts.max(), total > 0, !results.classCounts.isEmpty {
            let baseline = (2 * Double(largest) / (Double(largest) + total)) / Double(results.classCounts.count)
            svg += "<line x1=\"\(r(x(baseline)))\" y1=\"\(r(top - 4))\" x2=\"\(r(x(baseline)))\" y2=\"\(r(height - 26))\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>\n"
        }
        for (index, row) in results.rows.enumerated() {
            let y = top + rowHeight * (Double(index) + 0.5)
            if index % 2 == 0 {
                svg += "<rect x=\"0\" y=\"\(r(y - rowHeight / 2))\" width=\"\(Int(width))\" height=\"\(r(rowHeight))\" fill=\"#f7f7f7\"/>"
            }
            svg += "<text x=\"\(r(labelWidth - 8))\" y=\"\(r(y + 4))\" font-size=\"11\" text-anchor=\"end\">\(escape(shorten(row.name, 52)))</text>"
            let repeats = max((row.folds.map(\.repeatIndex).max() ?? 0) + 1, 1)
            for fold in row.folds {
                let offset = repeats > 1 ? (Double(fold.repeatIndex) / Double(repeats - 1) - 0.5) * rowHeight * 0.55 : 0
                svg += "<circle cx=\"\(r(x(fold.macroF1)))\" cy=\"\(r(y + offset))\" r=\"2.6\" fill=\"\(palette[fold.repeatIndex % palette.count])\" fill-opacity=\"0.6\"/>"
            }
            let mean = row.macroF1.mean, sd = row.macroF1.standardDeviation
            svg += "<line x1=\"\(r(x(mean - sd)))\" y1=\"\(r(y))\" x2=\"\(r(x(mean + sd)))\" y2=\"\(r(y))\" stroke=\"black\" stroke-width=\"2\"/>"
            svg += "<line x1=\"\(r(x(mean)))\" y1=\"\(r(y - 7))\" x2=\"\(r(x(mean)))\" y2=\"\(r(y + 7))\" stroke=\"black\" stroke-width=\"2.5\"/>"
            svg += "<text x=\"\(r(labelWidth + plotWidth + 8))\" y=\"\(r(y + 4))\" font-size=\"11\">\(String(format: "%.3f", mean))</text>\n"
        }
        return svg + "</svg>\n"
    }

    static func confusionHeatMap(_ row: ResultRow, _ results: ComparisonResults) -> String {
        // Column headers are written at 45 degrees and row headers in full, so that many long class names
        // (8 tissue classes: adipose, complex, ...) neither overlap nor run together.
        let names = results.classNames
        let longest = Double(names.map(\.count).max() ?? 1)
        let cell = names.count > 4 ? 34.0 : 52.0, left = max(80, 10 + 6.2 * longest), top = 44 + 4.6 * longest
        let size = cell * Double(names.count)
        let width = max(left + size + 12 + 4.6 * longest, 260), height = top + size + 34
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\">"
        svg += "<rect width=\"\(Int(width))\" height=\"\(Int(height))\" fill=\"white\"/>"
        svg += "<text x=\"4\" y=\"14\" font-size=\"12\" font-weight=\"bold\">\(escape(shorten(row.name, Int(width / 6.5))))</text>"
        svg += "<text x=\"4\" y=\"30\" font-size=\"11\">pooled macro F1 \(f3(row.pooled.macroF1))</text>"
        for (j, name) in names.enumerated() {
            let x = left + cell * (Double(j) + 0.5), y = top - 6
            svg += "<text x=\"\(r(x))\" y=\"\(r(y))\" font-size=\"10\" text-anchor=\"start\" transform=\"rotate(-45 \(r(x)) \(r(y)))\">\(escape(shorten(name, 24)))</text>"
        }
        for (i, name) in names.enumerated() {
            let rowTotal = max(row.pooled.confusion[i].reduce(0, +), 1)
            svg += "<text x=\"\(r(left - 6))\" y=\"\(r(top + cell * (Double(i) + 0.5) + 4))\" font-size=\"10\" text-anchor=\"end\">\(escape(shorten(name, 24)))</text>"
            for j in names.indices {
                let count = row.pooled.confusion[i][j]
                let fraction = Double(count) / Double(rowTotal)
                let shade = Int(255 - fraction * 200)
                let fill = i == j ? "rgb(\(shade),\(Int(255 - fraction * 120)),\(shade))" : "rgb(255,\(shade),\(shade))"
                svg += "<rect x=\"\(r(left + cell * Double(j)))\" y=\"\(r(top + cell * Double(i)))\" width=\"\(r(cell))\" height=\"\(r(cell))\" fill=\"\(fill)\" stroke=\"#999\"/>"
                svg += "<text x=\"\(r(left + cell * (Double(j) + 0.5)))\" y=\"\(r(top + cell * (Double(i) + 0.5) + 4))\" font-size=\"11\" text-anchor=\"middle\" fill=\"\(fraction > 0.6 ? "white" : "black")\">\(count)</text>"
            }
        }
        svg += "<text x=\"\(r(left + size / 2))\" y=\"\(r(top + size + 18))\" font-size=\"10\" text-anchor=\"middle\" fill=\"#555\">predicted</text>"
        return svg + "</svg>\n"
    }

    static func shorten(_ text: String, _ length: Int) -> String {
        text.count <= length ? text : String(text.prefix(max(length - 1, 1))) + "…"
    }

    static func r(_ value: Double) -> String { String(format: "%.1f", value) }

    /// Markdown's `code` spans of an escaped text as HTML <code> elements.
    static func codeSpans(_ escaped: String) -> String {
        escaped.split(separator: "`", omittingEmptySubsequences: false).enumerated()
            .map { $0.offset % 2 == 1 ? "<code>\($0.element)</code>" : String($0.element) }.joined()
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

extension ComparisonResults {
    /// The best row that is one feature set with one head: what `carcinoma report --best-single` prints and
    /// `make run` submits (rows are sorted best first).
    public var bestSingleRow: ResultRow? { rows.first { $0.kind == .single } }

    /// Two standard errors of a row's mean macro F1, at the median fold-to-fold sd of the table: differences
    /// smaller than this are fold noise.
    public var noiseBand: Double {
        let sds = rows.map(\.macroF1.standardDeviation).sorted()
        let typical = sds.isEmpty ? 0 : sds[sds.count / 2]
        return 2 * typical / Double(max(rows.first?.folds.count ?? 1, 1)).squareRoot()
    }

    /// What answering the largest class for every image scores: its accuracy (1/K for K balanced classes)
    /// and its macro F1 (F1 of that class, 0 for the others, averaged over the K classes).
    public var chance: (accuracy: Double, macroF1: Double) {
        let total = Double(classCounts.reduce(0, +))
        guard let largest = classCounts.max(), total > 0 else { return (.nan, .nan) }
        return (Double(largest) / total, (2 * Double(largest) / (Double(largest) + total)) / Double(classCounts.count))
    }
}

extension ResultRow {
    /// True when every pooled out-of-fold prediction is the same class (of more than one).
    public func predictsOneClass(classCount: Int) -> Bool {
        guard classCount > 1, let first = pooled.confusion.first else { return false }
        let predictedColumns = (0..<first.count).filter { j in pooled.confusion.contains { $0[j] > 0 } }
        return predictedColumns.count == 1
    }
}

/// Atomic text write through the feature store's writer.
func writeText(_ text: String, to url: URL) throws {
    try createOutputFolder(url.deletingLastPathComponent())
    try writeAtomically(Data(text.utf8), to: url)
}

/// Checks, before a long computation, that `file` can later be written: creates its folder when
/// missing and writes then removes an empty temporary beside it. An unwritable or read-only folder
/// (or a path through a regular file) is refused with an error naming `file`. A full disk is only
/// found when the real contents are written, which leaves the previous file intact.
public func checkOutputFile(_ file: URL) throws {
    try createOutputFolder(file.deletingLastPathComponent())
    try prepareAtomicWrite(Data(), to: file).discard()
}

/// Creates an output folder (and its parents) when missing; the error names the folder and gives
/// the system's reason (e.g. "Not a directory" when a parent is a regular file).
func createOutputFolder(_ directory: URL) throws {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue { return }
    var path = ""
    for component in directory.standardizedFileURL.pathComponents {
        path = path.isEmpty ? component : (path as NSString).appendingPathComponent(component)
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw EvaluationError.badFile(file: directory.path, line: 0, problem: "cannot create the output folder: \(String(cString: strerror(errno)))")
        }
    }
    guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw EvaluationError.badFile(file: directory.path, line: 0, problem: "cannot create the output folder: a file of that name is in the way")
    }
}
