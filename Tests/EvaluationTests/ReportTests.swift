import XCTest
import Evaluation
import Heads
import FeatureStore
import TestSupport

final class ReportAndPredictionTests: XCTestCase {
    let grid = HeadSpecification(name: "centroid", candidates: [
        HeadCandidate(setting: "sharpness=0.01", classifier: NearestCentroid(sharpness: 0.01)),
        HeadCandidate(setting: "sharpness=1", classifier: NearestCentroid(sharpness: 1))])
    let majority = HeadSpecification(name: "majority", candidates: [HeadCandidate(setting: "-", classifier: Majority())])

    func testReportIsSelfContainedAndHasEveryPart() throws {
        let (set, labels) = blobs()
        let prepared = try Comparison.prepare(featureSets: [set], labels: labels)
        let (results, _) = try Comparison.run(prepared, heads: [grid, majority],
                                              settings: CrossValidationSettings(foldCount: 4, repeats: 2, threads: 1),
                                              metaLearner: NearestCentroid(sharpness: 1))
        let html = Report.html(results)
        XCTAssertEqual(results.stacking, .selection, "the default stack rule is recorded in results.json")
        XCTAssertTrue(Report.markdown(results).contains("ensemble selection (Caruana et al. 2004)"), "the report states the stack rule")
        for required in ["<svg", "Fold noise", "features / centroid", "features / majority", "stack of all 2 models",
                         "Pooled confusion matrices", "Class counts per test fold", "seed 0"] {
            XCTAssertTrue(html.contains(required), "report.html lacks \(required)")
        }
        for forbidden in ["http://", "https://", "<script", "src=", "href="] where forbidden != "http://" {
            XCTAssertFalse(html.contains(forbidden), "report.html is not self-contained: \(forbidden)")
        }
        // The only URL is the SVG namespace, which browsers never fetch.
        XCTAssertEqual(html.components(separatedBy: "http://").count - 1, html.components(separatedBy: "http://www.w3.org/2000/svg").count - 1)
        // One fold dot per fold per model.
        XCTAssertEqual(html.components(separatedBy: "<circle").count - 1, results.rows.count * 8)
        let markdown = Report.markdown(results)
        XCTAssertTrue(markdown.contains("| 1 | "), markdown)
        XCTAssertTrue(markdown.contains("never predicted"))
        // The majority head is flagged for the classes it never predicts.
        let majorityLine = try XCTUnwrap(markdown.split(separator: "\n").first { $0.hasPrefix("| ") && $0.contains("features / majority") })
        XCTAssertTrue(majorityLine.contains("0, 1"), String(majorityLine))
    }

    /// The report says which row `make run` submits (the best single model) and why, states what chance
    /// scores, warns about a head that predicted one class for everything, and writes long class names whole
    /// in the confusion matrices' headers (they used to be cut to 7 letters and run together).
    func testReportNamesTheSubmittedModelChanceAndOneClassHeads() throws {
        let (set, numeric) = blobs()
        let names = [-1: "adenocarcinoma", 0: "benign-tissue", 1: "lymphocytes"]
        var csv = "image,label\n"
        for (id, label) in zip(numeric.ids, numeric.labels) { csv += "\(id),\(names[label] ?? "")\n" }
        let labels = try LabelTable.parse(csv, file: "labels.csv", format: LabelsFormat(idColumn: "image", labelColumn: "label", namedLabels: true))
        let prepared = try Comparison.prepare(featureSets: [set], labels: labels)
        let (results, _) = try Comparison.run(prepared, heads: [majority, grid],
                                              settings: CrossValidationSettings(foldCount: 4, repeats: 1, threads: 1),
                                              metaLearner: NearestCentroid(sharpness: 1))
        let best = try XCTUnwrap(results.bestSingleRow)
        XCTAssertEqual(best.name, "features / centroid")
        XCTAssertTrue(results.rows.prefix { $0 != best }.allSatisfy { $0.kind != .single }, "a better single row was passed over")
        let majorityRow = try XCTUnwrap(results.rows.first { $0.name == "features / majority" })
        XCTAssertTrue(majorityRow.predictsOneClass(classCount: 3))
        XCTAssertFalse(best.predictsOneClass(classCount: 3))

        let markdown = Report.markdown(results), html = Report.html(results)
        XCTAssertTrue(markdown.contains("## The submitted model"))
        let choice = try XCTUnwrap(ModelChoice.choose(results))
        XCTAssertEqual(choice.row.name, "features / centroid", "the single model indistinguishable from the best is the simplest row")
        XCTAssertTrue(markdown.contains("`make run` submits row \(choice.rank), features / centroid"), markdown)
        XCTAssertTrue(html.contains("<code>make run</code> submits row \(choice.rank), features / centroid"))
        // Chance: always answering the largest class (30 of 52 labelled rows).
        XCTAssertTrue(markdown.contains(String(format: "scores accuracy %.3f", 30.0 / 52)), markdown)
        let warnings = Report.collapseWarnings(results)
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(warnings[0].contains("features / majority") && !warnings[0].contains("centroid"), warnings[0])
        XCTAssertTrue(markdown.contains("**One class only.**") && html.contains("One class only."))
        for name in names.values {
            XCTAssertTrue(html.contains(">\(name)</text>"), "confusion header \(name) is not written whole")
        }
    }

    /// A submission scored against held-out labels (ids by stem, labels as names), next to chance on the
    /// same rows; a row without a true label is refused by name; the report carries the score.
    func testHeldOutScoreOfASubmission() throws {
        let folder = try temporaryDirectory("held-out")
        defer { try? FileManager.default.removeItem(at: folder) }
        let submission = folder.appendingPathComponent("submission.csv")
        try "image,label\nt_1,adipose\nt_2,tumor\nt_3,tumor\n".write(to: submission, atomically: true, encoding: .utf8)
        let format = LabelsFormat(idColumn: "image", labelColumn: "label", namedLabels: true)
        let truth = try LabelTable.parse("image,label,tile\nt_1.png,adipose,a\nt_2.png,adipose,b\nt_3.png,tumor,c\nt_4.png,stroma,d\n",
                                         file: "truth.csv", format: format)
        let score = try Submission.score(submission, truth: truth, format: format)
        XCTAssertEqual([score.correct, score.total, score.classCount], [2, 3, 2])
        XCTAssertEqual(score.chanceAccuracy, 2.0 / 3, accuracy: 1e-12)
        XCTAssertTrue(score.summary.hasPrefix("2 of 3 held-out images right"), score.summary)

        try "image,label\nt_1,adipose\nt_9,tumor\n".write(to: submission, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Submission.score(submission, truth: truth, format: format)) { error in
            XCTAssertTrue("\(error.localizedDescription)".contains("t_9"), "\(error.localizedDescription)")
        }

        let (set, labels) = blobs()
        let (results, _) = try Comparison.run(try Comparison.prepare(featureSets: [set], labels: labels), heads: [grid],
                                              settings: CrossValidationSettings(foldCount: 4, repeats: 1, threads: 1),
                                              metaLearner: NearestCentroid(sharpness: 1))
        XCTAssertTrue(Report.markdown(results, heldOut: score).contains("**Held out.** `"))
        XCTAssertTrue(Report.html(results, heldOut: score).contains("2 of 3 held-out images right"))
        XCTAssertFalse(Report.markdown(results).contains("Held out."))
    }

    func testFoldAverageAndRefitPredictions() throws {
        let (set, labels) = blobs(separation: 6)
        let prepared = try Comparison.prepare(featureSets: [set], labels: labels)
        let settings = CrossValidationSettings(foldCount: 4, repeats: 2, seed: 1, threads: 2)
        let truth = [-1, 0, 1, -1, 0, 1].reversed()   // the unlabelled rows in submission (ascending id) order
        for refit in [false, true] {
            let prediction = try Predictions.predict(prepared, heads: { _ in [self.grid] }, ensemble: nil, refit: refit,
                                                     settings: settings, metaLearner: NearestCentroid(sharpness: 1))
            XCTAssertEqual(prediction.probabilities.rows, 6)
            XCTAssertEqual(argmaxLabels(prediction.probabilities, classes: [-1, 0, 1]), Array(truth), "refit \(refit)")
            XCTAssertEqual(prediction.settings.count, refit ? 1 : 8)
        }
        let stacked = try Predictions.predict(prepared, heads: { _ in [self.grid, self.majority] }, ensemble: .stack, refit: false,
                                              settings: settings, metaLearner: NearestCentroid(sharpness: 1))
        XCTAssertEqual(argmaxLabels(stacked.probabilities, classes: [-1, 0, 1]), Array(truth))
        XCTAssertThrowsError(try Predictions.predict(prepared, heads: { _ in [self.grid, self.majority] }, ensemble: nil, refit: false,
                                                     settings: settings, metaLearner: NearestCentroid(sharpness: 1)))
    }
}
