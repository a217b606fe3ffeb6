import XCTest
import Weights
import TestSupport

/// The real EfficientNet-Lite0 checkpoint (legacy torch format) against torch.load:
/// weights_fixtures.py v1 stored every tensor's shape, dtype and SHA-256 of its Float32 bytes.
final class EfficientNetLite0Tests: XCTestCase {
    private func lite0(function: String = #function) throws -> URL { try realLite0WeightsOrSkip(function: function) }

    private func check(_ store: WeightStore, against expected: ExpectedTensors, dtypesPreserved: Bool) {
        XCTAssertEqual(Set(store.keys), Set(expected.tensors.keys))
        var matched = 0
        for (key, tensor) in expected.tensors {
            guard let actual = store.tensors[key] else { XCTFail("missing \(key)"); continue }
            XCTAssertEqual(actual.shape, tensor.shape, key)
            if dtypesPreserved { XCTAssertEqual(actual.dtype.rawValue, tensor.dtype, key) }
            if float32Digest(actual.values) == tensor.sha256 { matched += 1 } else { XCTFail("\(key): values differ from torch.load") }
        }
        XCTAssertEqual(matched, expected.tensors.count)
    }

    func testEveryTensorEqualsTorchLoad() throws {
        let url = try lite0()
        let expected = try expectedTensors("efficientnet_lite0_expected.json")
        XCTAssertEqual(try SHA256.hexDigest(ofFile: url), expected.file_sha256)
        XCTAssertEqual(try detectWeightFileFormat(of: url), .torchLegacy)
        let store = try loadWeights(from: url)
        XCTAssertEqual(store.tensors.count, 296)
        check(store, against: expected, dtypesPreserved: true)
    }

    func testConvertRoundTripsThroughSafetensors() throws {
        let url = try lite0()
        let expected = try expectedTensors("efficientnet_lite0_expected.json")
        let folder = try temporaryDirectory("weights-lite0")
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appendingPathComponent("efficientnet_lite0.safetensors")
        let report = try convertWeights(from: url, to: output)
        XCTAssertEqual(report.tensorCount, 296)
        let converted = try loadWeights(from: output)
        XCTAssertEqual(converted.metadata["source_sha256"], expected.file_sha256)
        check(converted, against: expected, dtypesPreserved: true)
    }
}
