import XCTest
import Evaluation
import FeatureStore
import Heads
import LinearAlgebra
import TestSupport

final class HeadCatalogTests: XCTestCase {
    func testEveryNamedHeadLearnsSeparableBlobsWithBalancedProbabilities() throws {
        let (set, labels) = blobs(separation: 4)
        let prepared = try Comparison.prepare(featureSets: [set], labels: labels)
        let heads = try HeadCatalog.specifications("softmax,svm,gp,gbt", featureWidth: 4, seed: 0)
        XCTAssertEqual(heads.map(\.name), ["softmax", "svm", "gp", "gbt"])
        let (results, _) = try Comparison.run(prepared, heads: heads, settings: CrossValidationSettings(foldCount: 4, threads: 2),
                                              metaLearner: try HeadCatalog.metaLearner(seed: 0))
        for row in results.rows {
            // 30/12/10 classes: a head collapsing to the majority would score about 0.27.
            XCTAssertGreaterThan(row.pooled.macroF1, 0.8, row.name)
            XCTAssertEqual(row.pooled.neverPredicted, [], row.name)
        }
    }

    func testUnknownHeadIsAClearError() {
        XCTAssertThrowsError(try HeadCatalog.specifications("softmax,knn", featureWidth: 4, seed: 0)) { error in
            XCTAssertTrue(error.localizedDescription.contains("unknown head `knn`"), error.localizedDescription)
        }
    }

    func testOxMLLabelsAgainstTheImageFolder() throws {
        guard let shared = sharedDirectory() else { throw XCTSkip("../shared is absent: OxML check skipped") }
        let folder = shared.appendingPathComponent("data/oxml")
        let labels = try LabelTable.read(folder.appendingPathComponent("labels.csv"), format: LabelsFormat(allowedLabels: [-1, 0, 1]))
        XCTAssertEqual(labels.classes.map { labels.count(ofClass: $0) }, [36, 14, 12])
        let images = try Submission.imageIDs(in: folder)
        let expected = try Submission.expectedIDs(images: images, labels: labels, source: folder.path)
        XCTAssertEqual(expected.count, 124)
        XCTAssertEqual(expected.compactMap(Int.init), expected.compactMap(Int.init).sorted())
        XCTAssertThrowsError(try StratifiedFolds.make(labels: labels.labels, foldCount: 13, seed: 0)) { error in
            XCTAssertTrue(error.localizedDescription.contains("1: 12"), error.localizedDescription)
        }
    }
}
