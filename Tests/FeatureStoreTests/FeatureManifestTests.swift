import Foundation
import XCTest
import FeatureStore
import TestSupport

func sampleManifest(ids: [String] = ["img_a", "img_b", "img_c"]) -> FeatureManifest {
    FeatureManifest(toolVersion: "0.1.0", dataset: "demo", backbone: "efficientnet_lite0",
                    weightsFile: "efficientnet_lite0.pth", weightsSHA256: String(repeating: "ab", count: 32),
                    view: "tiles", viewParameters: ["stride": "112", "pool": "mean"], tta: nil,
                    preprocessing: .init(inputSize: 224, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]),
                    embeddingWidth: 4, imageIDs: ids, imageSHA256: ids.map { "hash-\($0)" })
}

final class FeatureManifestTests: XCTestCase {
    func testRoundTrip() throws {
        let directory = try temporaryDirectory("manifest")
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("m.json")
        var manifest = sampleManifest()
        manifest.tta = "d4"
        try manifest.write(to: url)
        XCTAssertEqual(try FeatureManifest.read(from: url), manifest)
        XCTAssertNil(manifest.mismatch(with: try FeatureManifest.read(from: url)))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["m.json"])
    }

    func testEveryKindOfMismatchIsNamed() {
        let base = sampleManifest()
        var cases: [(String, FeatureManifest)] = []
        var changed = base; changed.weightsSHA256 = String(repeating: "cd", count: 32); cases.append(("weights SHA-256", changed))
        changed = base; changed.view = "resize"; cases.append(("view", changed))
        changed = base; changed.viewParameters["stride"] = "56"; cases.append(("view parameters", changed))
        changed = base; changed.formatVersion = featureFormatVersion + 1; cases.append(("format version", changed))
        changed = base; changed.tta = "d4"; cases.append(("TTA", changed))
        changed = base; changed.backbone = "resnet50"; cases.append(("backbone", changed))
        changed = base; changed.preprocessing.inputSize = 299; cases.append(("preprocessing", changed))
        changed = base; changed.imageSHA256[1] = "other"; cases.append(("changed content (img_b)", changed))
        changed = sampleManifest(ids: ["img_a", "img_b", "img_c", "img_d"]); cases.append(("added (img_d)", changed))
        changed = sampleManifest(ids: ["img_a", "img_c"]); cases.append(("removed (img_b)", changed))
        changed = sampleManifest(ids: ["img_c", "img_b", "img_a"]); cases.append(("order", changed))
        for (expected, other) in cases {
            let message = other.mismatch(with: base)
            XCTAssertNotNil(message, expected)
            XCTAssertTrue(message?.contains(expected) ?? false, "expected '\(expected)' in: \(message ?? "nil")")
        }
        var informative = base
        informative.toolVersion = "9.9.9"
        XCTAssertNil(informative.mismatch(with: base), "tool version alone must not invalidate a cache")
        XCTAssertNil(sampleManifest(ids: ["x"]).settingsMismatch(with: base), "image list is not a settings difference")
    }

    func testBadManifestsNameTheFileAndProblem() throws {
        let directory = try temporaryDirectory("manifest")
        defer { try? FileManager.default.removeItem(at: directory) }
        let cases: [(String, String)] = [
            ("{ not json", "not valid JSON"),
            (#"{"formatVersion": 1}"#, "missing key"),
            (String(data: try sampleManifest().encoded(), encoding: .utf8)!.replacingOccurrences(of: "\"hash-img_a\",", with: ""), "image hashes"),
            (String(data: try sampleManifest(ids: ["a", "a"]).encoded(), encoding: .utf8)!, "more than once"),
        ]
        for (index, (text, expected)) in cases.enumerated() {
            let url = directory.appendingPathComponent("bad\(index).json")
            try Data(text.utf8).write(to: url)
            XCTAssertThrowsError(try FeatureManifest.read(from: url)) { error in
                XCTAssertTrue(error.localizedDescription.contains(url.path), error.localizedDescription)
                XCTAssertTrue(error.localizedDescription.contains(expected), "expected '\(expected)': \(error.localizedDescription)")
            }
        }
    }
}

final class FeatureSetTests: XCTestCase {
    func testLoadWithManifestAndWithIDs() throws {
        let directory = try temporaryDirectory("featureset")
        defer { try? FileManager.default.removeItem(at: directory) }
        let values: [Float] = (0..<12).map { Float($0) }
        let set = FeatureSet(manifest: sampleManifest(), ids: ["img_a", "img_b", "img_c"], shape: [3, 4], values: values)
        let npy = directory.appendingPathComponent("efficientnet_lite0-tiles.npy")
        try set.write(npy: npy)
        let loaded = try FeatureSet.load(npy: npy)
        XCTAssertEqual(loaded.ids, ["img_a", "img_b", "img_c"])
        XCTAssertEqual(loaded.values, values)
        XCTAssertEqual(loaded.manifest, sampleManifest())
        XCTAssertEqual(loaded.name, "efficientnet_lite0-tiles")
        XCTAssertEqual(Array(loaded.row(1)), [4, 5, 6, 7])

        let bare = directory.appendingPathComponent("bare.npy")
        try NPYArray(shape: [3, 4], values: values).write(to: bare)
        XCTAssertThrowsError(try FeatureSet.load(npy: bare)) { error in
            XCTAssertTrue(error.localizedDescription.contains("ids"), error.localizedDescription)
        }
        let ids = directory.appendingPathComponent("ids.txt")
        try Data("x\ny\n\nz\n".utf8).write(to: ids)
        XCTAssertEqual(try FeatureSet.load(npy: bare, ids: ids).ids, ["x", "y", "z"])
        try Data("x\ny\n".utf8).write(to: ids)
        XCTAssertThrowsError(try FeatureSet.load(npy: bare, ids: ids)) { error in
            XCTAssertTrue(error.localizedDescription.contains("2 image ids for 3 feature rows"), error.localizedDescription)
        }
        try Data("x\ny\nx\n".utf8).write(to: ids)
        XCTAssertThrowsError(try FeatureSet.load(npy: bare, ids: ids)) { error in
            XCTAssertTrue(error.localizedDescription.contains("'x'"), error.localizedDescription)
        }
    }

    func testLoadDirectory() throws {
        let directory = try temporaryDirectory("featureset")
        defer { try? FileManager.default.removeItem(at: directory) }
        XCTAssertThrowsError(try FeatureSet.loadDirectory(directory)) { error in
            XCTAssertTrue(error.localizedDescription.contains(directory.path), error.localizedDescription)
        }
        for view in ["resize", "pad"] {
            var manifest = sampleManifest()
            manifest.view = view
            try FeatureSet(manifest: manifest, ids: manifest.imageIDs, shape: [3, 4], values: Array(repeating: 1, count: 12))
                .write(npy: directory.appendingPathComponent("efficientnet_lite0-\(view).npy"))
        }
        let sets = try FeatureSet.loadDirectory(directory)
        XCTAssertEqual(sets.map(\.name), ["efficientnet_lite0-pad", "efficientnet_lite0-resize"])
        XCTAssertEqual(sets.map { $0.manifest?.view }, ["pad", "resize"])
    }

    func testWidthDisagreementIsRefused() throws {
        let directory = try temporaryDirectory("featureset")
        defer { try? FileManager.default.removeItem(at: directory) }
        var manifest = sampleManifest()
        manifest.embeddingWidth = 5
        let npy = directory.appendingPathComponent("x.npy")
        try FeatureSet(manifest: manifest, ids: manifest.imageIDs, shape: [3, 4], values: Array(repeating: 0, count: 12)).write(npy: npy)
        XCTAssertThrowsError(try FeatureSet.load(npy: npy)) { error in
            XCTAssertTrue(error.localizedDescription.contains("embeddingWidth 5"), error.localizedDescription)
        }
    }
}
