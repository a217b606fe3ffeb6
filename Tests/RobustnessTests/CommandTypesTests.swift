// The command line parses into types: extract's --view, --tta, --tile-pool and --pooling are enums
// (an unknown value is refused by the parser with the valid ones listed), and submit shares compare's
// option groups for the features and labels, with the library's unlabelled-id check.

import Foundation
import TestSupport
import XCTest

final class CommandTypesTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        _ = try carcinomaExecutable()
        directory = try temporaryDirectory("command-types")
    }

    override func tearDown() {
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }

    private func run(_ arguments: [String]) throws -> ChildResult {
        try runCarcinoma(arguments, memoryLimitMiB: 2048, timeLimitSeconds: 120)
    }

    func testExtractEnumsAreParsedWithTheirValuesListed() throws {
        let images = directory.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        let base = ["extract", "--images", images.path, "--backbone", "efficientnet_lite0", "--weights-dir", directory.path]
        for (flag, value, listed) in [("--view", "sideways", ["resize", "pad", "native", "tiles"]),
                                      ("--tta", "d8", ["d4"]),
                                      ("--tile-pool", "max", ["mean", "mean+max"]),
                                      ("--pooling", "layers", ["final", "stages", "stages-raw"])] {
            var arguments = base + [flag, value]
            if flag != "--view" { arguments += ["--view", "tiles"] }
            let result = try run(arguments)
            XCTAssertNotEqual(result.status, 0, "\(flag) \(value) was accepted")
            XCTAssertTrue(result.error.contains("'\(value)'") && result.error.contains(flag), "\(flag): \(result.error)")
            for name in listed { XCTAssertTrue(result.error.contains("'\(name)'"), "\(flag) lacks \(name): \(result.error)") }
        }
    }

    func testSubmitSharesCompareOptionsAndChecksTheImages() throws {
        let help = try run(["submit", "--help"]).output
        for option in ["--features", "--ids", "--feature-set", "--blocks", "--labels", "--id-column", "--label-column",
                       "--group-column", "--label-names", "--allowed-labels", "--images"] {
            XCTAssertTrue(help.contains(option), "submit --help lacks \(option)")
        }
        let inputs = try CommandInputs(directory.appendingPathComponent("inputs"))
        // An image without a feature row: the submission would miss it.
        try Data().write(to: inputs.images.appendingPathComponent("999.png"))
        makeWorldReadable(inputs.folder)
        let result = try run(inputs.submit(out: directory.appendingPathComponent("submission.csv"), seed: 0))
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.error.contains("differ from \(inputs.images.path) minus the labels"), result.error)
        XCTAssertTrue(result.error.contains("no features for: 999"), result.error)
    }
}
