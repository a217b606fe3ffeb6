// The label set at the command line: `compare` and `submit` accept only the OxML labels -1, 0, 1
// by default (a stray 2 would otherwise become a fourth class), and `--allowed-labels` widens it.
// Each runs the real executable (see OutputFaultTests for the inputs).

import Evaluation
import Foundation
import TestSupport
import XCTest

final class CommandLabelTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        _ = try carcinomaExecutable()
        directory = try temporaryDirectory("command-labels")
    }

    override func tearDown() {
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    /// The catalogue's labels CSV with a `2` on line 4: refused by both commands, file and line named.
    func testCompareAndSubmitRefuseLabelTwoByDefault() throws {
        let inputs = try CommandInputs(directory.appendingPathComponent("inputs"))
        let fixture = Catalogue.fixture("tables/labels-label-2.csv")
        var compare = inputs.compare(out: directory.appendingPathComponent("compare"), seed: 0)
        compare[compare.firstIndex(of: inputs.labels.path)!] = fixture.path
        let compared = try runCarcinoma(compare)
        expectRefusal(compared, names: "\(fixture.path):4:", saying: "label 2 of id `3` is not one of -1, 0, 1")
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent("compare/results.json").path))

        var submit = inputs.submit(out: directory.appendingPathComponent("submission.csv"), seed: 0)
        submit[submit.firstIndex(of: inputs.labels.path)!] = fixture.path
        expectRefusal(try runCarcinoma(submit), names: "\(fixture.path):4:", saying: "label 2 of id `3` is not one of -1, 0, 1")
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent("submission.csv").path))
    }

    /// Labels 0, 1, 2: refused by default (first 2 on line 4), accepted with `--allowed-labels any`
    /// or a list holding 2, where 2 is a class of its own in results.json.
    func testAllowedLabelsOptionWidensTheSet() throws {
        let inputs = try CommandInputs(directory.appendingPathComponent("inputs"), labelOf: { [0, 1, 2][$0 % 3] })
        let out = directory.appendingPathComponent("compare")
        expectRefusal(try runCarcinoma(inputs.compare(out: out, seed: 0)),
                      names: "\(inputs.labels.path):4:", saying: "label 2 of id `3` is not one of -1, 0, 1")
        expectRefusal(try runCarcinoma(inputs.compare(out: out, seed: 0, extra: ["--allowed-labels=-1,0,1"])),
                      names: "\(inputs.labels.path):4:", saying: "label 2 of id `3` is not one of -1, 0, 1")
        expectRefusal(try runCarcinoma(inputs.compare(out: out, seed: 0, extra: ["--allowed-labels=0,1"])),
                      names: "\(inputs.labels.path):4:", saying: "label 2 of id `3` is not one of 0, 1")

        expectSuccess(try runCarcinoma(inputs.compare(out: out, seed: 0, extra: ["--allowed-labels", "any"])))
        XCTAssertEqual(try ComparisonResults.read(from: out).classes, [0, 1, 2])
        let listed = directory.appendingPathComponent("compare-listed")
        expectSuccess(try runCarcinoma(inputs.compare(out: listed, seed: 0, extra: ["--allowed-labels", "0,1,2"])))
        XCTAssertEqual(try ComparisonResults.read(from: listed).classes, [0, 1, 2])
        let submission = directory.appendingPathComponent("submission.csv")
        expectSuccess(try runCarcinoma(inputs.submit(out: submission, seed: 0, extra: ["--allowed-labels", "any"])))
        XCTAssertTrue(FileManager.default.fileExists(atPath: submission.path))
    }

    func testMalformedAllowedLabelsIsRefused() throws {
        let inputs = try CommandInputs(directory.appendingPathComponent("inputs"))
        let result = try runCarcinoma(inputs.compare(out: directory.appendingPathComponent("compare"), seed: 0, extra: ["--allowed-labels", "0,one"]))
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.error.contains("--allowed-labels: `one` is not an integer"), result.error)
    }
}
