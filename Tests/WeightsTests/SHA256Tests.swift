import XCTest
import Weights

final class SHA256Tests: XCTestCase {
    private struct Vectors: Decodable {
        struct Vector: Decodable { var length: Int?; var text: String?; var sha256: String }
        var version: Int
        var vectors: [Vector]
    }

    /// Expected digests from Python's hashlib (weights_fixtures.py v1), lengths around block edges.
    func testMatchesHashlibVectors() throws {
        let vectors = try JSONDecoder().decode(Vectors.self, from: Data(contentsOf: try fixture("sha256_vectors.json")))
        XCTAssertGreaterThan(vectors.vectors.count, 10)
        for vector in vectors.vectors {
            let data: Data
            if let text = vector.text { data = Data(text.utf8) } else {
                data = Data((0..<(vector.length ?? 0)).map { UInt8(($0 * 7 + 3) % 256) })
            }
            XCTAssertEqual(SHA256.hexDigest(data), vector.sha256, "length \(data.count)")
            // Byte-at-a-time updates agree with the block fast path.
            var hasher = SHA256()
            for byte in data { hasher.update([byte]) }
            XCTAssertEqual(hexString(hasher.finalize()), vector.sha256)
        }
    }

    func testStreamsFiles() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sha-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        let data = Data((0..<(3 << 20) + 17).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try data.write(to: url)
        XCTAssertEqual(try SHA256.hexDigest(ofFile: url), SHA256.hexDigest(data))
    }
}
