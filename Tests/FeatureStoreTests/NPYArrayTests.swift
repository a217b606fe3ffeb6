import Foundation
import XCTest
import FeatureStore
import TestSupport

/// Fixtures come from scripts/fixtures/npy_fixtures.py (numpy.save); values follow its closed form.
final class NPYArrayTests: XCTestCase {
    func fixture(_ name: String) throws -> URL {
        try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: "npy"), "missing fixture \(name).npy")
    }

    /// value[i] = float32(i * 0.37 - 1.5), as in npy_fixtures.py.
    func ramp(_ count: Int) -> [Float] { (0..<count).map { Float(Double($0) * 0.37 - 1.5) } }

    func testReadsNumpyFloat32() throws {
        let array = try NPYArray.read(from: fixture("f4_3x5"))
        XCTAssertEqual(array.shape, [3, 5])
        XCTAssertEqual(array.values, ramp(15))
    }

    func testReadsNumpyFloat64Converted() throws {
        let array = try NPYArray.read(from: fixture("f8_2x4"))
        XCTAssertEqual(array.shape, [2, 4])
        XCTAssertEqual(array.values, ramp(8))
    }

    func testReadsVectorEmptyAndVersion2() throws {
        let vector = try NPYArray.read(from: fixture("f4_vector7"))
        XCTAssertEqual(vector.shape, [7])
        XCTAssertEqual(vector.values, ramp(7))
        let empty = try NPYArray.read(from: fixture("f4_0x4"))
        XCTAssertEqual(empty.shape, [0, 4])
        XCTAssertEqual(empty.values, [])
        let version2 = try NPYArray.read(from: fixture("f4_v2_2x3"))
        XCTAssertEqual(version2.shape, [2, 3])
        XCTAssertEqual(version2.values, ramp(6))
    }

    func testWriterMatchesNumpyByteForByte() throws {
        for (name, shape) in [("f4_3x5", [3, 5]), ("f4_vector7", [7]), ("f4_0x4", [0, 4])] {
            let numpyBytes = try Data(contentsOf: fixture(name))
            let ours = NPYArray(shape: shape, values: ramp(shape.reduce(1, *))).encoded()
            XCTAssertEqual(ours, numpyBytes, "\(name): our bytes differ from numpy.save's")
        }
    }

    func testRoundTripThroughFile() throws {
        let directory = try temporaryDirectory("npy")
        defer { try? FileManager.default.removeItem(at: directory) }
        var generator = SystemRandomNumberGenerator()
        let values = (0..<(17 * 33)).map { _ in Float.random(in: -1e6...1e6, using: &generator) }
        let array = NPYArray(shape: [17, 33], values: values)
        let url = directory.appendingPathComponent("round.npy")
        try array.write(to: url)
        XCTAssertEqual(try NPYArray.read(from: url), array)
        // Header padded so data starts on a 64-byte boundary, as numpy does.
        let bytes = try Data(contentsOf: url)
        XCTAssertEqual((bytes.count - 4 * values.count) % 64, 0)
        // No temporary file left beside it.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["round.npy"])
    }

    func testRejectionsNameTheFile() throws {
        let cases: [(String, String)] = [("f4_fortran_3x2", "Fortran"), ("i8_2x2", "'<i8'"), ("big_endian_2x2", "'>f4'")]
        for (name, expected) in cases {
            let url = try fixture(name)
            XCTAssertThrowsError(try NPYArray.read(from: url), name) { error in
                let message = error.localizedDescription
                XCTAssertTrue(message.contains(url.path), "\(name): message does not name the file: \(message)")
                XCTAssertTrue(message.contains(expected), "\(name): message does not say \(expected): \(message)")
            }
        }
    }

    func testTruncatedAndGarbageFilesAreRefused() throws {
        let directory = try temporaryDirectory("npy")
        defer { try? FileManager.default.removeItem(at: directory) }
        let full = try Data(contentsOf: fixture("f4_3x5"))
        let truncated = directory.appendingPathComponent("truncated.npy")
        try full.prefix(full.count - 5).write(to: truncated)
        XCTAssertThrowsError(try NPYArray.read(from: truncated)) { error in
            XCTAssertTrue(error.localizedDescription.contains("truncated"), error.localizedDescription)
            XCTAssertTrue(error.localizedDescription.contains(truncated.path))
        }
        let text = directory.appendingPathComponent("text.npy")
        try Data("hello, not an array".utf8).write(to: text)
        XCTAssertThrowsError(try NPYArray.read(from: text)) { error in
            XCTAssertTrue(error.localizedDescription.contains("magic"), error.localizedDescription)
        }
        let empty = directory.appendingPathComponent("empty.npy")
        try Data().write(to: empty)
        XCTAssertThrowsError(try NPYArray.read(from: empty))
        let headerOverrun = directory.appendingPathComponent("overrun.npy")
        try Data(full.prefix(10)).write(to: headerOverrun)
        XCTAssertThrowsError(try NPYArray.read(from: headerOverrun)) { error in
            XCTAssertTrue(error.localizedDescription.contains("header"), error.localizedDescription)
        }
        // A header claiming an absurd shape must not allocate: it is refused as truncated/too large.
        var huge = Data(NPYArray(shape: [1, 1], values: [0]).encoded())
        let hugeHeader = String(decoding: huge, as: UTF8.self).replacingOccurrences(of: "(1, 1)", with: "(99999999999, 99999999999)")
        huge = Data(hugeHeader.utf8)
        let hugeURL = directory.appendingPathComponent("huge.npy")
        try huge.write(to: hugeURL)
        XCTAssertThrowsError(try NPYArray.read(from: hugeURL))
        let missing = directory.appendingPathComponent("missing.npy")
        XCTAssertThrowsError(try NPYArray.read(from: missing)) { error in
            XCTAssertTrue(error.localizedDescription.contains(missing.path), error.localizedDescription)
        }
    }

    func testWriteIntoMissingFolderFailsCleanly() {
        let url = URL(fileURLWithPath: "/nonexistent-\(UUID().uuidString)/x.npy")
        XCTAssertThrowsError(try NPYArray(shape: [1], values: [1]).write(to: url)) { error in
            XCTAssertTrue(error.localizedDescription.contains(url.path), error.localizedDescription)
        }
    }
}
