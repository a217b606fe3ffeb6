import XCTest
import Weights
import TestSupport

final class SafetensorsTests: XCTestCase {
    /// Python: safetensors.torch.save_file({...F32, F16, BF16, scalar, empty...}) (weights_fixtures.py v1).
    func testReadsFileWrittenByPythonSafetensors() throws {
        let expected = try expectedTensors("tensors_expected.json")
        XCTAssertEqual(expected.version, 1)
        let store = try loadWeights(from: try fixture("tensors.safetensors"))
        XCTAssertEqual(Set(store.keys), Set(expected.tensors.keys))
        XCTAssertEqual(store.metadata, expected.metadata ?? [:])
        for (name, tensor) in expected.tensors {
            let actual = try XCTUnwrap(store.tensors[name])
            XCTAssertEqual(actual.shape, tensor.shape, name)
            XCTAssertEqual(actual.dtype.rawValue, tensor.dtype, name)
            // F16 and BF16 widen exactly to Float32, so equality is exact.
            XCTAssertEqual(actual.values, (tensor.values ?? []).map(Float.init), name)
        }
        XCTAssertEqual(store.tensors["b.half"]?.dtype, .float16)
        XCTAssertEqual(store.tensors["c.brain"]?.dtype, .bfloat16)
    }

    func testWriteThenReadRoundTripsAndIsAtomic() throws {
        let folder = try temporaryDirectory("weights-safetensors")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("out.safetensors")
        let tensors = [
            "b.weight": WeightTensor(shape: [2, 3], values: [1, -2, 3.5, 0, .greatestFiniteMagnitude, -0.0]),
            "a.bias": WeightTensor(shape: [3], values: [0.25, 0.5, 0.75], dtype: .float16),
            "bn.num_batches_tracked": WeightTensor(shape: [], values: [1234], dtype: .int64),
            "empty": WeightTensor(shape: [0, 4], values: []),
        ]
        try writeSafetensors(tensors, to: url, metadata: ["format": "pt"])
        let store = try loadWeights(from: url)
        XCTAssertEqual(store.metadata, ["format": "pt"])
        XCTAssertEqual(store.tensors["b.weight"]?.values, tensors["b.weight"]?.values)
        XCTAssertEqual(store.tensors["b.weight"]?.shape, [2, 3])
        XCTAssertEqual(store.tensors["a.bias"]?.dtype, .float32, "floats are written as F32")
        XCTAssertEqual(store.tensors["bn.num_batches_tracked"]?.dtype, .int64)
        XCTAssertEqual(store.tensors["bn.num_batches_tracked"]?.values, [1234])
        XCTAssertEqual(store.tensors["empty"]?.shape, [0, 4])
        // Header padded so the buffer is 8-byte aligned; no temporary file left behind.
        let data = try Data(contentsOf: url)
        let headerLength = data.prefix(8).enumerated().reduce(0) { $0 | (Int($1.element) << (8 * $1.offset)) }
        XCTAssertEqual((8 + headerLength) % 8, 0)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["out.safetensors"])
    }

    func testRejectsHeaderThatIsNotJSON() throws {
        let url = try fixture("corrupt_header_not_json.safetensors")
        assertWeightsError(try loadWeights(from: url), names: url.path, mentions: ["header is not JSON"])
    }

    func testRejectsHeaderLongerThanFile() throws {
        let url = try fixture("corrupt_header_too_long.safetensors")
        // Named .safetensors, so it is read as one even though the length is implausible.
        assertWeightsError(try loadWeights(from: url), names: url.path, mentions: ["longer than the file"])
    }

    func testRejectsOverlappingOffsets() throws {
        let url = try fixture("corrupt_overlapping.safetensors")
        assertWeightsError(try loadWeights(from: url), names: url.path, mentions: ["overlap"])
    }

    func testRejectsOffsetsOutOfRange() throws {
        let url = try fixture("corrupt_out_of_range.safetensors")
        assertWeightsError(try loadWeights(from: url), names: url.path, mentions: ["outside the 24-byte data buffer"])
    }

    func testRejectsUnknownDTypeShapeMismatchAndGaps() throws {
        let folder = try temporaryDirectory("weights-corrupt")
        defer { try? FileManager.default.removeItem(at: folder) }
        func write(_ header: String, dataBytes: Int) throws -> URL {
            let url = folder.appendingPathComponent("case-\(UUID().uuidString).safetensors")
            var data = Data()
            var length = UInt64(header.utf8.count).littleEndian
            data.append(Data(bytes: &length, count: 8))
            data.append(Data(header.utf8))
            data.append(Data(repeating: 0, count: dataBytes))
            try data.write(to: url)
            return url
        }
        let unknown = try write(#"{"x":{"dtype":"F8_E9M9","shape":[2],"data_offsets":[0,2]}}"#, dataBytes: 2)
        assertWeightsError(try loadWeights(from: unknown), names: unknown.path, mentions: ["unsupported dtype F8_E9M9", "'x'"])
        let mismatch = try write(#"{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, dataBytes: 8)
        assertWeightsError(try loadWeights(from: mismatch), names: mismatch.path, mentions: ["'x'", "12", "span 8"])
        let gap = try write(#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, dataBytes: 8)
        assertWeightsError(try loadWeights(from: gap), names: gap.path, mentions: ["belong to no tensor"])
        let trailing = try write(#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, dataBytes: 8)
        assertWeightsError(try loadWeights(from: trailing), names: trailing.path, mentions: ["tensors cover 4"])
        let notObject = try write(#"[1, 2]"#, dataBytes: 0)
        assertWeightsError(try Safetensors.read(from: notObject), names: notObject.path, mentions: ["not an object"])
        let short = folder.appendingPathComponent("short.safetensors")
        try Data([1, 2, 3]).write(to: short)
        assertWeightsError(try loadWeights(from: short), names: short.path, mentions: ["shorter than the 8-byte"])
    }

    func testMissingFileAndUnknownFormatAreNamed() throws {
        let folder = try temporaryDirectory("weights-missing")
        defer { try? FileManager.default.removeItem(at: folder) }
        let missing = folder.appendingPathComponent("nope.pth")
        assertWeightsError(try loadWeights(from: missing), names: missing.path, mentions: ["no such file"])
        let text = folder.appendingPathComponent("notes.pth")
        try Data("hello world".utf8).write(to: text)
        assertWeightsError(try loadWeights(from: text), names: text.path, mentions: ["unrecognised first bytes"])
    }
}
