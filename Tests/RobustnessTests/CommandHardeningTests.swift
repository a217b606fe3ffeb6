// README's hardening rows 6, 7 and 9 through the real executable: count flags bounded (and negative
// numbers reported as such, not as "Missing value"), results.json validated on load, and outputs
// that would overwrite an input refused. Inputs: `CommandInputs` (OutputFaultTests); each run is a
// child process under an address-space cap and a time limit.

import Evaluation
import Foundation
import TestSupport
import XCTest

final class CommandHardeningTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        _ = try carcinomaExecutable()
        directory = try temporaryDirectory("command-hardening")
    }

    override func tearDown() {
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    private func run(_ arguments: [String]) throws -> ChildResult {
        try runCarcinoma(arguments, memoryLimitMiB: 2048, timeLimitSeconds: 120)
    }

    /// Replaces `flag`'s value in `arguments`, or appends the flag.
    private func with(_ arguments: [String], _ flag: String, _ value: String) -> [String] {
        var result = arguments
        if let index = result.firstIndex(of: flag) { result[index + 1] = value } else { result += [flag, value] }
        return result
    }

    func testCountFlagsAreBoundedAndNegativesNamed() throws {
        let inputs = try CommandInputs(directory.appendingPathComponent("inputs"))
        let compare = inputs.compare(out: directory.appendingPathComponent("compare"), seed: 0)
        for (flag, value, phrase) in [("--repeats", "1000000000000", "--repeats 1000000000000: must be between 1 and 1000"),
                                      ("--repeats", "-1", "--repeats -1: must be between 1 and 1000"),
                                      ("--folds", "0", "--folds 0: must be between 2 and 1000"),
                                      ("--inner-folds", "100000", "--inner-folds 100000: must be between 2 and 1000"),
                                      ("--threads", "99999", "--threads 99999: must be between 1 and 1024"),
                                      ("--seed", "-1", "'-1' is invalid for '--seed")] {
            let result = try run(with(compare, flag, value))
            XCTAssertNotEqual(result.status, 0, "\(flag) \(value)")
            XCTAssertTrue(result.error.contains(phrase), "\(flag) \(value): \(result.error)")
            XCTAssertFalse(result.error.contains("Missing value"), result.error)
        }
        let extract = ["extract", "--images", inputs.images.path, "--backbone", "efficientnet_lite0", "--view", "resize",
                       "--out", directory.appendingPathComponent("features").path]
        for (flag, value, phrase) in [("--batch", "1000000", "--batch 1000000: must be between 1 and 1024"),
                                      ("--tile-stride", "-5", "--tile-stride -5: must be between 1 and 100000"),
                                      ("--shard", "-1/2", "--shard -1/2: expected i/n")] {
            let result = try run(with(extract, flag, value))
            XCTAssertNotEqual(result.status, 0, "\(flag) \(value)")
            XCTAssertTrue(result.error.contains(phrase), "\(flag) \(value): \(result.error)")
        }
    }

    /// A results.json edited after compare: each damage is refused by `report`, naming the file and field.
    func testReportValidatesResultsJSON() throws {
        let inputs = try CommandInputs(directory.appendingPathComponent("inputs"))
        let out = directory.appendingPathComponent("compare")
        let compared = try run(inputs.compare(out: out, seed: 0))
        XCTAssertEqual(compared.status, 0, compared.error)
        let url = out.appendingPathComponent("results.json")
        let original = try Data(contentsOf: url)
        XCTAssertEqual(try run(["report", "--results", out.path]).status, 0)

        typealias Edit = (inout [String: Any]) -> Void
        func firstFold(_ json: inout [String: Any], _ change: (inout [String: Any]) -> Void) {
            var rows = json["rows"] as! [[String: Any]]
            var folds = rows[0]["folds"] as! [[String: Any]]
            change(&folds[0])
            rows[0]["folds"] = folds
            json["rows"] = rows
        }
        let edits: [(String, Edit, String)] = [
            ("negative repeat", { json in firstFold(&json) { $0["repeatIndex"] = -1 } }, "fold (repeat -1, fold 0) is outside 1 repeats x 2 folds"),
            ("short per-class F1", { json in firstFold(&json) { $0["perClassF1"] = [0.5] } }, "has 1 F1 scores and 3 class counts for 3 classes"),
            ("short class names", { json in json["classNames"] = ["-1"] }, "1 class names for 3 classes"),
            ("short pooled confusion", { json in
                var rows = json["rows"] as! [[String: Any]]
                var pooled = rows[0]["pooled"] as! [String: Any]
                pooled["confusion"] = [[1, 2, 3]]
                rows[0]["pooled"] = pooled
                json["rows"] = rows
            }, "the pooled confusion matrix is not 3 x 3"),
        ]
        for (label, edit, phrase) in edits {
            var json = try JSONSerialization.jsonObject(with: original) as! [String: Any]
            edit(&json)
            try JSONSerialization.data(withJSONObject: json).write(to: url)
            let result = try run(["report", "--results", out.path])
            XCTAssertEqual(result.status, 1, "\(label): status \(result.status): \(result.error)")
            XCTAssertTrue(result.error.contains(url.path) && result.error.contains(phrase), "\(label): \(result.error)")
        }
    }

    func testSubmitRefusesToWriteOverItsLabels() throws {
        let inputs = try CommandInputs(directory.appendingPathComponent("inputs"))
        let before = try Data(contentsOf: inputs.labels)
        for out in [inputs.labels, inputs.folder.appendingPathComponent("./sub/../labels.csv")] {
            let result = try run(inputs.submit(out: out, seed: 0))
            XCTAssertNotEqual(result.status, 0)
            XCTAssertTrue(result.error.contains("is the --labels file"), result.error)
        }
        // probabilities.csv is written beside the submission: labels named so are inputs too.
        let probabilities = inputs.folder.appendingPathComponent("probabilities.csv")
        try FileManager.default.copyItem(at: inputs.labels, to: probabilities)
        var submit = inputs.submit(out: inputs.folder.appendingPathComponent("submission.csv"), seed: 0)
        submit[submit.firstIndex(of: inputs.labels.path)! ] = probabilities.path
        let result = try run(submit)
        XCTAssertTrue(result.error.contains("probabilities.csv beside it") && result.error.contains("is the --labels file"), result.error)
        XCTAssertEqual(try Data(contentsOf: inputs.labels), before)
        XCTAssertEqual(try Data(contentsOf: probabilities), before)
    }
}
