// README's hardening rows 4 and 10 on tables: label ids that only look like image numbers (`tumor1`,
// `1.9`, `slide7/1` must not match `img_1.png`), two feature ids claiming one number (both named),
// a duplicated header column, `--heads softmax,softmax`, and a FIFO given as the labels file.
// Fixtures: scripts/fixtures/robustness_fixtures.py (tables/).

import Evaluation
import Foundation
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class LabelHardeningTests: XCTestCase {
    private func table(_ name: String) -> URL { Catalogue.fixture("tables/" + name) }
    private let featureIDs = (1...6).map { "img_\($0).png" }

    func testOnlyBareNumbersMatchByNumber() throws {
        for name in ["prefixed", "decimal", "path"] {
            let url = table("labels-ambiguous-\(name).csv")
            let labels = try LabelTable.read(url)
            let error = refusal { try Alignment.align(featureIDs: featureIDs, featureSource: "features.npy", labels: labels) }
            assertMessage(error, names: url.path, mentions: ["1 of 3 labelled ids have no feature row", "`\(labels.ids[0])` (line 2)"])
        }
        // The plain OxML style still aligns by number.
        let plain = try LabelTable.parse("id,malignant\n1,0\n2,1\n03,0\n", file: "plain.csv")
        let alignment = try Alignment.align(featureIDs: featureIDs, featureSource: "features.npy", labels: plain)
        XCTAssertEqual(alignment.rule, .number)
        XCTAssertEqual(alignment.featureRowOfLabel, [0, 1, 2])
    }

    func testNumberCollisionNamesBothFiles() throws {
        let labels = try LabelTable.parse("id,malignant\n441,0\n7,1\n", file: "labels.csv")
        let error = refusal {
            try Alignment.align(featureIDs: ["img_441.png", "scan_441.png", "img_7.png"], featureSource: "features.npy", labels: labels)
        }
        assertMessage(error, names: "labels.csv", mentions: ["`img_441.png` and `scan_441.png` in features.npy both match `441` under the number rule"])
    }

    func testDuplicatedColumnIsRefused() {
        let url = table("labels-duplicate-column.csv")
        let error = refusal { try LabelTable.read(url) }
        assertMessage(error, names: url.path, line: 1, mentions: ["column `malignant` appears 2 times"])
    }

    func testTheSameHeadTwiceIsRefused() {
        let error = refusal { try HeadCatalog.specifications("softmax,svm_linear,softmax", featureWidth: 4, seed: 0) }
        XCTAssertTrue(error?.localizedDescription.contains("`softmax` is named twice") ?? false, String(describing: error))
    }

    func testFIFOAsLabelsIsRefusedWithoutBlocking() throws {
        let folder = try temporaryDirectory("labels-fifo")
        defer { try? FileManager.default.removeItem(at: folder) }
        let fifo = folder.appendingPathComponent("labels.csv")
        XCTAssertEqual(mkfifo(fifo.path, 0o644), 0)
        let error = refusal { try LabelTable.read(fifo) }     // would block in open() forever
        assertMessage(error, names: fifo.path, mentions: ["is a named pipe (FIFO), not a regular file"])
        let device = refusal { try LabelTable.read(URL(fileURLWithPath: "/dev/zero")) }
        assertMessage(device, names: "/dev/zero", mentions: ["is a device"])
    }
}
