import XCTest
import Evaluation
import LinearAlgebra
import TestSupport

final class SubmissionTests: XCTestCase {
    let labels = try! LabelTable.parse("id,malignant\n441,-1\n7,1\n12,0\n", file: "labels.csv")   // literal test data
    let images = ["img_441", "img_7", "img_12", "img_100", "img_9", "img_30"]
    let format = LabelsFormat()

    func testWriteSortsByNumericIdAndValidates() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("submission.csv")
        let ids = ["100", "9", "30"]
        let probabilities = Matrix(rows: 3, columns: 3, values: [0.2, 0.5, 0.3, 0.6, 0.3, 0.1, 0.1, 0.1, 0.8])
        let written = try Submission.write(ids: ids, probabilities: probabilities, classes: [-1, 0, 1], labels: labels, format: format, to: url)
        XCTAssertEqual(written, [-1, 1, 0])
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), "id,malignant\n9,-1\n30,1\n100,0\n")
        let table = try String(contentsOf: directory.appendingPathComponent("probabilities.csv"), encoding: .utf8)
        XCTAssertTrue(table.hasPrefix("id,p_-1,p_0,p_1,malignant\n9,0.600000,0.300000,0.100000,-1\n"), table)
        let summary = try Submission.validate(url, labels: labels, images: images, format: format)
        XCTAssertEqual(summary.rows, 3)
        XCTAssertEqual(summary.counts, ["-1": 1, "0": 1, "1": 1])
    }

    private func assertRefused(_ text: String, line: Int, contains fragment: String, at: UInt = #line) throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("submission.csv")
        try text.write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Submission.validate(url, labels: labels, images: images, format: format), line: at) { error in
            guard case let EvaluationError.badFile(file, errorLine, problem) = error else { return XCTFail("\(error)", line: at) }
            XCTAssertEqual(file, url.path, line: at)
            XCTAssertEqual(errorLine, line, problem, line: at)
            XCTAssertTrue(problem.contains(fragment), problem, line: at)
        }
    }

    func testValidatorRefusesBadFilesWithLineNumbers() throws {
        try assertRefused("id,label\n9,0\n30,0\n100,0\n", line: 1, contains: "expected exactly `id,malignant`")
        try assertRefused("id,malignant\n9,0\n30,0\n", line: 0, contains: "1 of 3 test images have no row: 100")
        try assertRefused("id,malignant\n9,0\n30,0\n100,0\n5,1\n", line: 5, contains: "`5` is not an image")
        try assertRefused("id,malignant\n9,0\n441,0\n30,0\n100,0\n", line: 3, contains: "labelled image")
        try assertRefused("id,malignant\n9,0\n30,0\n9,1\n100,0\n", line: 4, contains: "duplicate id `9` (first on line 2)")
        try assertRefused("id,malignant\n9,0\n30,2\n100,0\n", line: 3, contains: "label `2` of id `30` is not one of -1, 0, 1")
        try assertRefused("id,malignant\n9,0\n30,0.5\n100,0\n", line: 3, contains: "not one of")
        try assertRefused("id,malignant\n9,0,1\n", line: 2, contains: "expected 2 fields")
        try assertRefused("", line: 0, contains: "empty file")
    }

    func testImageFolderListing() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for name in ["img_2.png", "img_1.PNG", "notes.txt", ".hidden.png"] {
            try Data().write(to: directory.appendingPathComponent(name))
        }
        XCTAssertEqual(try Submission.imageIDs(in: directory), ["img_1", "img_2"])
    }
}
