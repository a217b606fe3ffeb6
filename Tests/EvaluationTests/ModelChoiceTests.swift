// The submitted model's rule (ModelChoice, `submit --head auto`): among the rows the corrected t-test
// cannot tell from the best, the simplest (fewest models, mean before stack, argmax before offsets),
// ties by mean macro F1. The tables are a real comparison's results.json with the significance fields
// and the order of the rows edited, so each case sets exactly which rows are candidates.

import XCTest
import Evaluation
import TestSupport

final class ModelChoiceTests: XCTestCase {
    let centroid = HeadSpecification(name: "centroid", candidates: [
        HeadCandidate(setting: "sharpness=0.01", classifier: NearestCentroid(sharpness: 0.01)),
        HeadCandidate(setting: "sharpness=1", classifier: NearestCentroid(sharpness: 1))])
    let majority = HeadSpecification(name: "majority", candidates: [HeadCandidate(setting: "-", classifier: Majority())])

    /// Two feature sets × (centroid, majority), both decision rules: single, offsets, mean and stack rows.
    func comparison() throws -> ComparisonResults {
        let (set, labels) = blobs(separation: 1.5)
        var other = set
        other.values = set.values.map { $0 * 0.5 + 0.1 }
        other.label = "other"
        let prepared = try Comparison.prepare(featureSets: [set, other], labels: labels)
        return try Comparison.run(prepared, heads: [centroid, majority], settings: CrossValidationSettings(foldCount: 4, repeats: 2, threads: 1),
                                  metaLearner: NearestCentroid(sharpness: 1), decision: .both).results
    }

    /// The same table with its rows in `order` (names) and these rows marked indistinguishable from the first.
    func edited(_ results: ComparisonResults, order: [String], indistinguishable: Set<String>?) throws -> ComparisonResults {
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: try results.encoded()) as? [String: Any])
        let rows = try XCTUnwrap(object["rows"] as? [[String: Any]])
        var byName: [String: [String: Any]] = [:]
        for row in rows { byName[row["name"] as? String ?? ""] = row }
        object["rows"] = try (order + rows.compactMap { $0["name"] as? String }.filter { !order.contains($0) }).map { name -> [String: Any] in
            var row = try XCTUnwrap(byName[name], name)
            row["pValueVersusBest"] = nil
            row["indistinguishableFromBest"] = nil
            if let indistinguishable {
                row["indistinguishableFromBest"] = name == order.first || indistinguishable.contains(name)
                if name != order.first { row["pValueVersusBest"] = indistinguishable.contains(name) ? 0.5 : 0.01 }
            }
            return row
        }
        let folder = try temporaryDirectory("model-choice")
        defer { try? FileManager.default.removeItem(at: folder) }
        try JSONSerialization.data(withJSONObject: object).write(to: folder.appendingPathComponent(ComparisonResults.fileName))
        return try ComparisonResults.read(from: folder)
    }

    func testTheSimplestIndistinguishableRowIsChosen() throws {
        let results = try comparison()
        let names = Set(results.rows.map(\.name))
        let single = "features / centroid", offsets = "features / centroid + offsets", otherSingle = "other / centroid"
        let mean = "mean of 2 feature sets / centroid", stack = "stack of all 4 models"
        XCTAssertTrue(names.isSuperset(of: [single, offsets, otherSingle, mean, stack]), "\(names.sorted())")

        // A stack on top, a mean and two single models the test cannot tell from it: the single model
        // with the higher mean macro F1 among the two (the table's order) is chosen.
        var table = try edited(results, order: [stack, mean, otherSingle, single], indistinguishable: [mean, otherSingle, single])
        var choice = try XCTUnwrap(ModelChoice.choose(table))
        XCTAssertEqual(choice.row.name, otherSingle)
        XCTAssertEqual(choice.rank, 3)
        XCTAssertEqual(choice.candidates.map(\.name), [stack, mean, otherSingle, single])
        XCTAssertNil(choice.ensemble)
        XCTAssertEqual(choice.featureSets, ["other"])
        XCTAssertEqual(choice.heads, ["centroid"])
        XCTAssertEqual(choice.decision, .argmax)
        XCTAssertEqual(choice.rule, ModelChoice.ruleText)

        // Argmax before offsets, even below it.
        table = try edited(results, order: [offsets, single], indistinguishable: [single])
        XCTAssertEqual(ModelChoice.choose(table)?.row.name, single)
        // Offsets alone indistinguishable: offsets, and the submission follows its decision rule.
        table = try edited(results, order: [mean, offsets, single], indistinguishable: [offsets])
        choice = try XCTUnwrap(ModelChoice.choose(table))
        XCTAssertEqual(choice.row.name, offsets)
        XCTAssertEqual(choice.decision, .offsets)

        // A mean before a stack of as many models; every single model distinguishable from the best.
        let stackOfTwo = "stack of 2 feature sets / centroid"
        XCTAssertTrue(names.contains(stackOfTwo))
        table = try edited(results, order: [stackOfTwo, mean, single], indistinguishable: [mean])
        choice = try XCTUnwrap(ModelChoice.choose(table))
        XCTAssertEqual(choice.row.name, mean)
        XCTAssertEqual(choice.ensemble, .mean)
        XCTAssertEqual(choice.featureSets, ["features", "other"])
        XCTAssertEqual(choice.heads, ["centroid"])
        // Only the best row is indistinguishable from itself: the best row, whatever it is.
        table = try edited(results, order: [stack, single], indistinguishable: [])
        choice = try XCTUnwrap(ModelChoice.choose(table))
        XCTAssertEqual(choice.row.name, stack)
        XCTAssertEqual(choice.ensemble, .stack)
        XCTAssertEqual(choice.heads, ["centroid", "majority"])
        XCTAssertEqual(choice.featureSets, ["features", "other"])

        // A results file without the marker (written before the test existed): the best single row, as before.
        table = try edited(results, order: [stack, otherSingle, single], indistinguishable: nil)
        choice = try XCTUnwrap(ModelChoice.choose(table))
        XCTAssertEqual(choice.row.name, otherSingle)
        XCTAssertTrue(choice.rule.contains("no significance marker"), choice.rule)
    }

    /// Complexity counts the members of an ensemble and orders the kinds and the decision rules.
    func testComplexityOrder() throws {
        let results = try comparison()
        func row(_ name: String) throws -> ResultRow { try XCTUnwrap(results.rows.first { $0.name == name }, name) }
        let order = try ["features / centroid", "features / centroid + offsets", "mean of 2 feature sets / centroid",
                         "stack of 2 feature sets / centroid", "stack of all 4 models"].map { ModelChoice.complexity(of: try row($0)) }
        for (simpler, harder) in zip(order, order.dropFirst()) {
            XCTAssertTrue(simpler.lexicographicallyPrecedes(harder), "\(simpler) should be simpler than \(harder)")
        }
        XCTAssertEqual(order.last?.first, 4)
    }

    /// The report names the submitted row, the command and the rule; on the real table its choice is
    /// a row marked indistinguishable from the best, and no simpler such row exists.
    func testReportNamesTheChosenRowAndTheRule() throws {
        let results = try comparison()
        let choice = try XCTUnwrap(ModelChoice.choose(results))
        XCTAssertEqual(choice.row.indistinguishableFromBest, true)
        for row in results.rows where row.indistinguishableFromBest == true {
            XCTAssertFalse(ModelChoice.complexity(of: row).lexicographicallyPrecedes(ModelChoice.complexity(of: choice.row)), row.name)
        }
        let markdown = Report.markdown(results)
        XCTAssertTrue(markdown.contains("`make run` submits row \(choice.rank), \(choice.row.name)"), markdown)
        XCTAssertTrue(markdown.contains("submit --head auto --results"))
        XCTAssertTrue(markdown.contains(ModelChoice.ruleText))
    }
}
