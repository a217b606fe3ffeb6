import XCTest
import Evaluation

final class LabelsTests: XCTestCase {
    func testAcceptsBOMCRLFBlankLinesAndSpaces() throws {
        let text = "\u{FEFF}id , malignant\r\n441, -1\r\n\r\n 33284 ,1\r\n\"38771\",0\r\n\r\n"
        let table = try LabelTable.parse(text, file: "labels.csv")
        XCTAssertEqual(table.ids, ["441", "33284", "38771"])
        XCTAssertEqual(table.labels, [-1, 1, 0])
        XCTAssertEqual(table.lines, [2, 4, 5])
        XCTAssertEqual(table.classes, [-1, 0, 1])
    }

    func testConfigurableColumnsAndNamedLabels() throws {
        let text = "image,label,source_tile\ntumor_1.png,tumor,a\nstroma_1.png,stroma,b\ntumor_2.png,tumor,a\n"
        let table = try LabelTable.parse(text, file: "k.csv",
            format: LabelsFormat(idColumn: "image", labelColumn: "label", groupColumn: "source_tile", namedLabels: true))
        XCTAssertEqual(table.labels, [1, 0, 1])   // sorted names: stroma 0, tumor 1
        XCTAssertEqual(table.name(ofClass: 1), "tumor")
        XCTAssertEqual(table.groups, ["a", "b", "a"])
    }

    private func assertError(_ text: String, format: LabelsFormat = LabelsFormat(allowedLabels: [-1, 0, 1]),
                             line: Int, contains fragment: String, file: StaticString = #filePath, at: UInt = #line) {
        XCTAssertThrowsError(try LabelTable.parse(text, file: "bad.csv", format: format), file: file, line: at) { error in
            guard case let EvaluationError.badFile(name, errorLine, problem) = error else {
                return XCTFail("unexpected error \(error)", file: file, line: at)
            }
            XCTAssertEqual(name, "bad.csv", file: file, line: at)
            XCTAssertEqual(errorLine, line, "\(problem)", file: file, line: at)
            XCTAssertTrue(problem.contains(fragment), "\(problem)", file: file, line: at)
            XCTAssertTrue(error.localizedDescription.hasPrefix("bad.csv:"), file: file, line: at)
        }
    }

    func testBadInputNamesFileAndLine() {
        assertError("id,malignant\n1,0\n\n1,1\n", line: 4, contains: "duplicate id `1` (first on line 2)")
        assertError("id,malignant\n1,0\n2,2\n", line: 3, contains: "not one of -1, 0, 1")
        assertError("id,malignant\n1,0\n2,yes\n", line: 3, contains: "not an integer")
        assertError("id,label\n1,0\n", line: 1, contains: "missing column `malignant`")
        assertError("id,malignant\n1\n", line: 2, contains: "expected 2 fields")
        assertError("id,malignant\n,1\n", line: 2, contains: "empty id")
        assertError("id,malignant\n1,\n", line: 2, contains: "empty label")
        assertError("", line: 0, contains: "empty file")
        assertError("id,malignant\n\"1,0\n", line: 2, contains: "unterminated")
    }

    func testAlignmentByNumberNamesUnlabelledRows() throws {
        let labels = try LabelTable.parse("id,malignant\n441,-1\n7,1\n", file: "labels.csv")
        let alignment = try Alignment.align(featureIDs: ["img_7.png", "img_1000.png", "img_441.png"], featureSource: "f.json", labels: labels)
        XCTAssertEqual(alignment.rule, .number)
        XCTAssertEqual(alignment.featureRowOfLabel, [2, 0])
        XCTAssertEqual(alignment.unlabelledFeatureRows, [1])
        XCTAssertEqual(alignment.submissionIDs, ["7", "1000", "441"])
    }

    func testAlignmentByStemKeepsNamesThatShareNumbers() throws {
        let labels = try LabelTable.parse("image,label\ntumor_1.png,tumor\nstroma_1.png,stroma\n", file: "l.csv",
                                          format: LabelsFormat(idColumn: "image", labelColumn: "label", namedLabels: true))
        let alignment = try Alignment.align(featureIDs: ["stroma_1", "tumor_1", "tumor_2"], featureSource: "f.json", labels: labels)
        XCTAssertEqual(alignment.rule, .stem)
        XCTAssertEqual(alignment.featureRowOfLabel, [1, 0])
        XCTAssertEqual(alignment.unlabelledFeatureRows, [2])
    }

    func testUnknownLabelIdIsAnErrorWithItsLine() throws {
        let labels = try LabelTable.parse("id,malignant\n441,-1\n999,1\n", file: "labels.csv")
        XCTAssertThrowsError(try Alignment.align(featureIDs: ["img_441.png", "img_5.png"], featureSource: "f.json", labels: labels)) { error in
            guard case let EvaluationError.badFile(file, line, problem) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(file, "labels.csv")
            XCTAssertEqual(line, 3)
            XCTAssertTrue(problem.contains("`999`") && problem.contains("f.json"), problem)
        }
    }

    func testDuplicateFeatureIdIsAnError() throws {
        let labels = try LabelTable.parse("id,malignant\n1,0\n", file: "labels.csv")
        XCTAssertThrowsError(try Alignment.align(featureIDs: ["a", "a"], featureSource: "f.json", labels: labels)) { error in
            XCTAssertTrue(error.localizedDescription.contains("twice"), error.localizedDescription)
        }
    }
}
