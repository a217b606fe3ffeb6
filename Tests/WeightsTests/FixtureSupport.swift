import Foundation
import XCTest
import Weights

/// Tests/WeightsTests/Fixtures, written by scripts/fixtures/weights_fixtures.py.
func fixture(_ name: String) throws -> URL {
    guard let folder = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
        throw XCTSkip("fixture folder missing from the test bundle")
    }
    let url = folder.appendingPathComponent(name)
    guard FileManager.default.fileExists(atPath: url.path) else {
        XCTFail("fixture \(name) missing: run python3 scripts/fixtures/weights_fixtures.py")
        throw XCTSkip("fixture \(name) missing")
    }
    return url
}

struct ExpectedTensor: Decodable {
    var shape: [Int]
    var dtype: String
    var values: [Double]?
    var sha256: String?
}

struct ExpectedTensors: Decodable {
    var version: Int
    var tensors: [String: ExpectedTensor]
    var metadata: [String: String]?
    var file_sha256: String?
}

func expectedTensors(_ name: String) throws -> ExpectedTensors {
    try JSONDecoder().decode(ExpectedTensors.self, from: Data(contentsOf: try fixture(name)))
}

/// Asserts that `body` throws a WeightsError whose message names `file` and contains every phrase.
func assertWeightsError<T>(_ body: @autoclosure () throws -> T, names file: String, mentions phrases: [String],
                           file testFile: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try body()
        XCTFail("expected an error naming \(file)", file: testFile, line: line)
    } catch let error as WeightsError {
        let message = error.localizedDescription
        XCTAssertTrue(message.contains(file), "message does not name \(file): \(message)", file: testFile, line: line)
        for phrase in phrases {
            XCTAssertTrue(message.contains(phrase), "message lacks '\(phrase)': \(message)", file: testFile, line: line)
        }
    } catch {
        XCTFail("unexpected error type \(error)", file: testFile, line: line)
    }
}

/// SHA-256 of the Float32 little-endian bytes of `values`.
func float32Digest(_ values: [Float]) -> String {
    var hasher = SHA256()
    values.map { $0.bitPattern.littleEndian }.withUnsafeBytes { hasher.update($0) }
    return hexString(hasher.finalize())
}
