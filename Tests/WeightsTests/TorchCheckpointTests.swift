import XCTest
import Weights
import TestSupport

final class TorchCheckpointTests: XCTestCase {
    /// Python: torch.save(obj, ...) of the nested checkpoint in weights_fixtures.py v1; expected
    /// values are what torch.load gives back, flattened with dotted keys.
    private func checkAgainstTorch(_ name: String) throws {
        let expected = try expectedTensors("checkpoint_expected.json")
        let store = try loadWeights(from: try fixture(name))
        XCTAssertEqual(Set(store.keys), Set(expected.tensors.keys), name)
        for (key, tensor) in expected.tensors {
            let actual = try XCTUnwrap(store.tensors[key], key)
            XCTAssertEqual(actual.shape, tensor.shape, key)
            XCTAssertEqual(actual.dtype.rawValue, tensor.dtype, key)
            let values = (tensor.values ?? []).map(Float.init)
            let check = allClose(actual.values, values, relativeTolerance: 0, absoluteTolerance: 0)
            XCTAssertTrue(check.ok, "\(name) \(key): \(check.message)")
        }
        // The non-contiguous view really is the transpose of its base.
        let base = try XCTUnwrap(store.tensors["state_dict.base"]), transposed = try XCTUnwrap(store.tensors["state_dict.transposed"])
        XCTAssertEqual(transposed.values[1 * 4 + 2], base.values[2 * 3 + 1])
    }

    func testZipCheckpointMatchesTorchLoad() throws { try checkAgainstTorch("zip_checkpoint.pth") }

    func testLegacyCheckpointMatchesTorchLoad() throws { try checkAgainstTorch("legacy_checkpoint.pth") }

    func testFormatsAreDetectedFromContent() throws {
        XCTAssertEqual(try detectWeightFileFormat(of: try fixture("zip_checkpoint.pth")), .torchZip)
        XCTAssertEqual(try detectWeightFileFormat(of: try fixture("legacy_checkpoint.pth")), .torchLegacy)
        XCTAssertEqual(try detectWeightFileFormat(of: try fixture("tensors.safetensors")), .safetensors)
    }

    func testNestedAndPrefixedStateDicts() throws {
        let store = try loadWeights(from: try fixture("zip_checkpoint.pth"))
        let state = try store.unwrapped()
        XCTAssertEqual(state.tensors["conv.weight"]?.shape, [4, 3, 3, 3])
        XCTAssertNil(state.tensors["nested.list.0"], "unwrapped() keeps only the state dict")
        XCTAssertEqual(try store.selecting("nested.list").keys, ["0", "1"])
        assertWeightsError(try store.selecting("model"), names: store.source, mentions: ["no tensors under 'model'", "state_dict"])
        let prefixed = WeightStore(tensors: ["module.conv.weight": WeightTensor(shape: [1], values: [1]),
                                             "module.fc.bias": WeightTensor(shape: [1], values: [2])], source: "ddp.pth")
        XCTAssertEqual(try prefixed.unwrapped().keys, ["conv.weight", "fc.bias"])
        XCTAssertEqual(try prefixed.strippingPrefix("module.").keys, ["conv.weight", "fc.bias"])
        let wrapped = WeightStore(tensors: ["model.module.conv.weight": WeightTensor(shape: [1], values: [1])], source: "wrapped.pth")
        XCTAssertEqual(try wrapped.unwrapped().keys, ["conv.weight"])
        let flat = WeightStore(tensors: ["conv1.weight": WeightTensor(shape: [1], values: [1])], source: "flat.pth")
        XCTAssertEqual(try flat.unwrapped().keys, ["conv1.weight"])
        let clash = WeightStore(tensors: ["module.a": WeightTensor(shape: [1], values: [1]),
                                          "a": WeightTensor(shape: [1], values: [2])], source: "clash.pth")
        assertWeightsError(try clash.strippingPrefix("module."), names: "clash.pth", mentions: ["'a' occurs twice"])
    }

    func testRefusesDisallowedGlobalWithoutRunningIt() throws {
        for name in ["malicious_global.pth", "malicious_stack_global.pth"] {
            let url = try fixture(name)
            assertWeightsError(try loadWeights(from: url), names: url.path, mentions: ["refusing pickle global 'os.system'", "nothing was executed"])
        }
        let zip = try fixture("malicious_zip.pth")
        assertWeightsError(try loadWeights(from: zip), names: zip.path, mentions: ["refusing pickle global 'builtins.eval'"])
    }

    func testRefusesDeepNesting() throws {
        let url = try fixture("deep_nesting.pth")
        assertWeightsError(try loadWeights(from: url), names: url.path, mentions: ["nested deeper than"])
    }

    func testRefusesZipWithoutDataEntries() throws {
        let url = try fixture("zip_missing_data.pth")
        assertWeightsError(try loadWeights(from: url), names: url.path, mentions: ["missing the data entry", "data/0"])
    }

    func testRefusesTruncatedLegacyCheckpoint() throws {
        let original = try Data(contentsOf: try fixture("legacy_checkpoint.pth"))
        let folder = try temporaryDirectory("weights-truncated")
        defer { try? FileManager.default.removeItem(at: folder) }
        // Cut inside the raw storages, then inside the pickle.
        for keep in [original.count - 5, original.count / 3, 40] {
            let url = folder.appendingPathComponent("cut-\(keep).pth")
            try original.prefix(keep).write(to: url)
            XCTAssertThrowsError(try loadWeights(from: url)) { error in
                let message = error.localizedDescription
                XCTAssertTrue(message.contains(url.path), message)
                XCTAssertTrue(message.contains("truncated") || message.contains("end of file") || message.contains("past the end"), message)
            }
        }
    }

    /// Magic number, protocol version 1001 and an empty sys_info: the first three legacy pickles.
    static let legacyPreamble: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E]
        + [0x80, 0x02, 0x4D, 0xE9, 0x03, 0x2E] + [0x80, 0x02, 0x7D, 0x2E]

    func testMaliciousPicklesHitLimitsNotCrashes() throws {
        let folder = try temporaryDirectory("weights-pickles")
        defer { try? FileManager.default.removeItem(at: folder) }
        func load(_ bytes: [UInt8]) throws -> (URL, Error?) {
            let url = folder.appendingPathComponent("p-\(UUID().uuidString).pth")
            try Data(bytes).write(to: url)
            do { _ = try loadWeights(from: url); return (url, nil) } catch { return (url, error) }
        }
        // A dict that contains itself (a cycle through the memo) after a valid legacy preamble.
        let (cycleURL, cycle) = try load(Self.legacyPreamble + [0x80, 0x02, 0x7D, 0x71, 0x00, 0x8C, 0x01, 0x61, 0x68, 0x00, 0x73, 0x2E]
                                         + [0x80, 0x02, 0x5D, 0x2E])
        XCTAssertTrue(cycle?.localizedDescription.contains("nested deeper than") ?? false, "\(String(describing: cycle))")
        XCTAssertTrue(cycle?.localizedDescription.contains(cycleURL.path) ?? false)
        // BINGET of a memo slot never written.
        let (getURL, get) = try load([0x80, 0x02, 0x68, 0x07, 0x2E])
        XCTAssertTrue(get?.localizedDescription.contains("memo entry 7") ?? false, "\(String(describing: get)) \(getURL.path)")
        // BINUNICODE claiming 4 GB.
        let (longURL, long) = try load([0x80, 0x02, 0x58, 0xFF, 0xFF, 0xFF, 0xFF, 0x2E])
        XCTAssertTrue(long?.localizedDescription.contains("past the end") ?? false, "\(String(describing: long)) \(longURL.path)")
        // A storage persistent id declaring 2^40 floats in a tiny legacy file.
        var huge = Self.legacyPreamble
        huge += [0x80, 0x02, 0x63] + Array("torch._utils\n_rebuild_tensor_v2\n".utf8) + [0x28, 0x28]
        huge += [0x8C, 0x07] + Array("storage".utf8) + [0x63] + Array("torch\nFloatStorage\n".utf8)
        huge += [0x8C, 0x01, 0x30, 0x8C, 0x03] + Array("cpu".utf8) + [0x8A, 0x06, 0, 0, 0, 0, 0, 0x01] // 2^40
        huge += [0x4E, 0x74, 0x51, 0x4B, 0x00, 0x4B, 0x01, 0x85, 0x4B, 0x01, 0x85, 0x89, 0x4E, 0x74, 0x52, 0x2E]
        huge += [0x80, 0x02, 0x5D, 0x8C, 0x01, 0x30, 0x61, 0x2E] // ['0']
        huge += [0, 0, 0, 0, 0, 0x01, 0, 0] + [UInt8](repeating: 0, count: 16) // count 2^40, 16 bytes
        let (hugeURL, hugeError) = try load(huge)
        XCTAssertTrue(hugeError?.localizedDescription.contains("the file ends first") ?? false,
                      "\(String(describing: hugeError)) \(hugeURL.path)")
    }
}
