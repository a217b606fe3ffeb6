// Bad labels CSVs, feature files, manifests and submissions: each refused with an error naming
// the file, and for CSV the 1-based line.

import Evaluation
import FeatureStore
import Foundation
import XCTest

final class TableCatalogueTests: XCTestCase {
    private func table(_ name: String) -> URL { Catalogue.fixture("tables/" + name) }
    /// OxML's labels: -1 no carcinoma, 0 benign, 1 malignant.
    private let oxml = LabelsFormat(allowedLabels: [-1, 0, 1])

    // MARK: labels CSV

    func testLabelTwoIsRefusedWithItsLine() {
        let url = table("labels-label-2.csv")
        let error = refusal { try LabelTable.read(url, format: oxml) }
        assertMessage(error, names: url.path, line: 4, mentions: ["label 2", "-1, 0, 1"])
    }

    func testDuplicateIDIsRefusedWithBothLines() {
        let url = table("labels-duplicate-id.csv")
        let error = refusal { try LabelTable.read(url, format: oxml) }
        assertMessage(error, names: url.path, line: 5, mentions: ["duplicate id `2`", "first on line 3"])
    }

    func testMissingLabelColumnIsRefusedOnTheHeaderLine() {
        let url = table("labels-missing-column.csv")
        let error = refusal { try LabelTable.read(url, format: oxml) }
        assertMessage(error, names: url.path, line: 1, mentions: ["missing column `malignant`"])
    }

    func testNonIntegerLabelIsRefused() {
        let url = table("labels-not-integer.csv")
        let error = refusal { try LabelTable.read(url, format: oxml) }
        assertMessage(error, names: url.path, line: 3, mentions: ["`yes`", "not an integer"])
    }

    func testShortRowIsRefused() {
        let url = table("labels-short-row.csv")
        let error = refusal { try LabelTable.read(url, format: oxml) }
        assertMessage(error, names: url.path, line: 3, mentions: ["found 1"])
    }

    func testEmptyIDIsRefused() {
        let url = table("labels-empty-id.csv")
        let error = refusal { try LabelTable.read(url, format: oxml) }
        assertMessage(error, names: url.path, line: 3, mentions: ["empty id"])
    }

    func testUnterminatedQuoteIsRefusedWhereItStarts() {
        let url = table("labels-unterminated-quote.csv")
        let error = refusal { try LabelTable.read(url, format: oxml) }
        assertMessage(error, names: url.path, line: 3, mentions: ["unterminated quoted field"])
    }

    func testEmptyLabelsFileIsRefused() {
        let url = table("labels-empty.csv")
        let error = refusal { try LabelTable.read(url, format: oxml) }
        assertMessage(error, names: url.path, mentions: ["empty file"])
    }

    func testNonUTF8LabelsFileIsRefused() {
        let url = table("labels-not-utf8.csv")
        let error = refusal { try LabelTable.read(url, format: oxml) }
        assertMessage(error, names: url.path, mentions: ["not UTF-8"])
    }

    func testLabelledIDWithNoImageIsRefusedWithItsLine() throws {
        let url = table("labels-unknown-id.csv")
        let labels = try LabelTable.read(url, format: oxml)
        let features = (1...6).map { "img_\($0).png" }
        let error = refusal { try Alignment.align(featureIDs: features, featureSource: "features.json", labels: labels) }
        assertMessage(error, names: url.path, line: 4, mentions: ["`9` (line 4)", "no feature row"])
    }

    // MARK: feature files and manifests

    func testFeaturesWithNaNAreRefusedNamingRowAndID() {
        let url = table("features-nan.npy")
        let error = refusal { try FeatureSet.load(npy: url) }
        assertMessage(error, names: url.path, mentions: ["row 2", "img_3.png", "NaN"])
    }

    func testManifestFromAnOlderFormatVersionIsRefused() {
        let url = table("features-old.npy")
        let manifest = FeatureSet.manifestURL(for: url)
        let error = refusal { try FeatureSet.load(npy: url) }
        assertMessage(error, names: manifest.path, mentions: ["format version 0", "re-extract"])
    }

    func testTruncatedFeatureFileIsRefused() {
        let url = table("features-truncated.npy")
        let error = refusal { try NPYArray.read(from: url) }
        guard case .truncated? = error as? FeatureStoreError else { return XCTFail("\(String(describing: error))") }
        assertMessage(error, names: url.path)
    }

    func testManifestWidthDisagreeingWithTheMatrixIsRefused() {
        let url = table("features-width.npy")
        let error = refusal { try FeatureSet.load(npy: url) }
        assertMessage(error, names: FeatureSet.manifestURL(for: url).path, mentions: ["embeddingWidth 5", "4 columns"])
    }

    func testManifestThatIsNotJSONIsRefused() {
        let url = table("manifest-not-json.json")
        let error = refusal { try FeatureManifest.read(from: url) }
        guard case .badManifest? = error as? FeatureStoreError else { return XCTFail("\(String(describing: error))") }
        assertMessage(error, names: url.path, mentions: ["not valid JSON"])
    }

    func testManifestWithFewerHashesThanIDsIsRefused() {
        let url = table("manifest-hash-count.json")
        let error = refusal { try FeatureManifest.read(from: url) }
        assertMessage(error, names: url.path, mentions: ["6 image ids but 3 image hashes"])
    }

    // MARK: submissions (124 unlabelled images expected, as for OxML)

    private func submissionContext() throws -> (labels: LabelTable, images: [String]) {
        let labels = try LabelTable.read(table("submission-labels.csv"), format: oxml)
        return (labels, (1...144).map(String.init))
    }

    func testSubmissionWith123RowsIsRefused() throws {
        let (labels, images) = try submissionContext()
        let url = table("submission-123-rows.csv")
        let error = refusal { try Submission.validate(url, labels: labels, images: images, format: oxml) }
        assertMessage(error, names: url.path, mentions: ["1 of 124 test images have no row: 144"])
    }

    func testSubmissionContainingALabelledImageIsRefusedWithItsLine() throws {
        let (labels, images) = try submissionContext()
        let url = table("submission-labelled-id.csv")
        let error = refusal { try Submission.validate(url, labels: labels, images: images, format: oxml) }
        assertMessage(error, names: url.path, line: 4, mentions: ["`5` is a labelled image"])
    }

    func testSubmissionWithLabelTwoIsRefusedWithItsLine() throws {
        let (labels, images) = try submissionContext()
        let url = table("submission-label-2.csv")
        let error = refusal { try Submission.validate(url, labels: labels, images: images, format: oxml) }
        assertMessage(error, names: url.path, line: 11, mentions: ["label `2` of id `30`"])
    }
}
