// What `compare` and `submit` read, now in the library: loading and narrowing feature sets, the
// submission's unlabelled-id check, head names and model kinds as types (results.json unchanged).

import Foundation
import XCTest
import Evaluation
import FeatureStore
import TestSupport

final class ComparisonInputTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try temporaryDirectory("comparison-input") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// A cache folder with two sets (one of two named blocks) of `blobs()` rows, and its labels CSV.
    func writeCache() throws -> (features: URL, labels: URL, ids: [String]) {
        let (set, table) = blobs()
        let features = directory.appendingPathComponent("features")
        try FileManager.default.createDirectory(at: features, withIntermediateDirectories: true)
        func manifest(_ backbone: String, blocks: [FeatureBlock]?) -> FeatureManifest {
            FeatureManifest(toolVersion: "test", dataset: "blobs", backbone: backbone, weightsFile: "-", weightsSHA256: "-", view: "native",
                            preprocessing: .init(inputSize: 1, mean: [0, 0, 0], std: [1, 1, 1]), embeddingWidth: 4,
                            blocks: blocks, blockNormalization: blocks == nil ? nil : "none",
                            imageIDs: set.ids, imageSHA256: set.ids.map { _ in "-" })
        }
        try FeatureSet(manifest: manifest("a", blocks: nil), ids: set.ids, shape: set.shape, values: set.values)
            .write(npy: features.appendingPathComponent("a-native.npy"))
        try FeatureSet(manifest: manifest("b", blocks: [FeatureBlock(name: "early", width: 1), FeatureBlock(name: "late", width: 3)]),
                       ids: set.ids, shape: set.shape, values: set.values)
            .write(npy: features.appendingPathComponent("b-native-stages.npy"))
        var csv = "id,malignant\n"
        for (id, label) in zip(table.ids, table.labels) { csv += "\(id),\(label)\n" }
        let labels = directory.appendingPathComponent("labels.csv")
        try Data(csv.utf8).write(to: labels)
        return (features, labels, set.ids)
    }

    func testLoadNarrowsToNamedSetsAndBlockSelections() throws {
        let cache = try writeCache()
        let all = try PreparedComparison.load(features: cache.features, labels: cache.labels, format: LabelsFormat())
        XCTAssertEqual(all.featureSets.map(\.info.name), ["a-native", "b-native-stages"])
        XCTAssertEqual(all.labels.ids.count, 52)
        XCTAssertEqual(all.unlabelledIDs.count, 6)

        let one = try PreparedComparison.load(features: cache.features, labels: cache.labels, format: LabelsFormat(), featureSets: ["a-native"])
        XCTAssertEqual(one.featureSets.map(\.info.name), ["a-native"])

        let blocks = try PreparedComparison.load(features: cache.features, labels: cache.labels, format: LabelsFormat(), blocks: "all; late ;early+late")
        XCTAssertEqual(blocks.featureSets.count, 4, "a-native whole, then one set per selection of b")
        XCTAssertEqual(blocks.featureSets.map { $0.data.labelled.columns }, [4, 4, 3, 4])
        XCTAssertEqual(PreparedComparison.blockSelections("all;;a + b"), [["all"], ["a", "b"]])

        XCTAssertThrowsError(try PreparedComparison.load(features: cache.features, labels: cache.labels, format: LabelsFormat(),
                                                         featureSets: ["c-native"])) { error in
            for part in ["c-native", cache.features.path, "available: a-native, b-native-stages"] {
                XCTAssertTrue(error.localizedDescription.contains(part), error.localizedDescription)
            }
        }
        XCTAssertThrowsError(try PreparedComparison.load(features: cache.features, labels: cache.labels, format: LabelsFormat(), blocks: ";")) { error in
            XCTAssertTrue(error.localizedDescription.contains("--blocks"), error.localizedDescription)
        }

        // A bare .npy with its ids in a text file.
        let bare = directory.appendingPathComponent("bare.npy")
        let (set, _) = blobs()
        try NPYArray(shape: set.shape, values: set.values).write(to: bare)
        let idsFile = directory.appendingPathComponent("ids.txt")
        try Data(cache.ids.joined(separator: "\n").utf8).write(to: idsFile)
        let fromBare = try PreparedComparison.load(features: bare, ids: idsFile, labels: cache.labels, format: LabelsFormat())
        XCTAssertEqual(fromBare.unlabelledIDs, all.unlabelledIDs)
        XCTAssertEqual(fromBare.featureSets[0].data.labelled.values, all.featureSets[0].data.labelled.values)
    }

    func testUnlabelledIDsMustBeTheImagesToPredict() throws {
        let cache = try writeCache()
        let prepared = try PreparedComparison.load(features: cache.features, labels: cache.labels, format: LabelsFormat(), featureSets: ["a-native"])
        XCTAssertNoThrow(try prepared.requireUnlabelledIDs(prepared.unlabelledIDs, imagesFolder: "images"))
        var expected = prepared.unlabelledIDs
        let dropped = expected.removeLast()
        expected.append("img_new")
        XCTAssertThrowsError(try prepared.requireUnlabelledIDs(expected, imagesFolder: "images")) { error in
            let text = error.localizedDescription
            XCTAssertTrue(text.contains("differ from images minus the labels"), text)
            XCTAssertTrue(text.contains("no features for: img_new"), text)
            XCTAssertTrue(text.contains("not in the folder: \(dropped)"), text)
        }
        XCTAssertEqual(identifierDifference(["a", "b"], onlyInFirst: "left", ["b", "c", "d"], onlyInSecond: "right", limit: 1),
                       "; left: a; right: c")
        XCTAssertEqual(identifierDifference(["a"], onlyInFirst: "left", ["a"], onlyInSecond: "right", limit: 5), "")
    }

    func testHeadNamesAreTyped() throws {
        XCTAssertEqual(HeadCatalog.names, HeadName.allCases.map(\.rawValue))
        XCTAssertEqual(try HeadName.list(" gp, softmax ,"), [.gp, .softmax])
        for (text, phrase) in [("", "no head named"), ("svm,knn", "unknown head `knn`"), ("gbt,gbt", "`gbt` is named twice")] {
            XCTAssertThrowsError(try HeadName.list(text)) { error in
                XCTAssertTrue(error.localizedDescription.contains(phrase), "\(text): \(error.localizedDescription)")
            }
        }
        for head in HeadName.allCases {
            XCTAssertEqual(try HeadCatalog.specification(head, featureWidth: 4, seed: 0).name, head.rawValue)
        }
    }

    /// results.json keeps "kind": "single" | "mean" | "stack" as strings: a file written before the
    /// enum reads the same, and an unknown kind is refused with the key named.
    func testModelKindKeepsResultsJSONStable() throws {
        let (set, labels) = blobs()
        let prepared = try Comparison.prepare(featureSets: [set], labels: labels)
        let centroid = HeadSpecification(name: "centroid", candidates: [HeadCandidate(setting: "-", classifier: NearestCentroid(sharpness: 1))])
        let (results, _) = try Comparison.run(prepared, heads: [centroid, HeadSpecification(name: "majority", candidates: [HeadCandidate(setting: "-", classifier: Majority())])],
                                              settings: CrossValidationSettings(foldCount: 3, repeats: 1, threads: 1),
                                              metaLearner: NearestCentroid(sharpness: 1))
        XCTAssertEqual(Set(results.rows.map(\.kind)), [.single, .stack])
        try results.write(to: directory)
        let file = directory.appendingPathComponent(ComparisonResults.fileName)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
        let kinds = try XCTUnwrap(json["rows"] as? [[String: Any]]).map { $0["kind"] as? String }
        XCTAssertEqual(kinds, results.rows.map { $0.kind.rawValue }, "kind is stored as its string")
        XCTAssertEqual(try ComparisonResults.read(from: directory).rows.map(\.kind), results.rows.map(\.kind))

        let text = try String(contentsOf: file, encoding: .utf8)
        let stackKey = try XCTUnwrap(text.range(of: "\"stack\""))
        try Data(text.replacingCharacters(in: stackKey, with: "\"ensemble\"").utf8).write(to: file)
        XCTAssertThrowsError(try ComparisonResults.read(from: directory)) { error in
            XCTAssertTrue(error.localizedDescription.contains("kind"), error.localizedDescription)
        }
    }
}
