// Shared helpers of the bad-input catalogue: fixture lookup and "this input is refused with a
// message that names the file (and line)". Fixtures: scripts/fixtures/robustness_fixtures.py.

import Foundation
import XCTest

enum Catalogue {
    static let fixtures: URL = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")

    static func fixture(_ relative: String) -> URL { fixtures.appendingPathComponent(relative) }
}

/// Runs `body`, which must throw; returns the error. Fails the test when nothing is thrown.
func refusal<T>(_ body: () throws -> T, file: StaticString = #filePath, line: UInt = #line) -> Error? {
    do {
        let value = try body()
        XCTFail("expected an error, got \(value)", file: file, line: line)
        return nil
    } catch {
        return error
    }
}

/// The error's message names `path` (and `line` as `path:line` when given) and contains every phrase.
func assertMessage(_ error: Error?, names path: String, line: Int? = nil, mentions phrases: [String] = [],
                   file: StaticString = #filePath, sourceLine: UInt = #line) {
    guard let error else { return }
    let message = error.localizedDescription
    XCTAssertTrue(message.contains(path), "message does not name \(path): \(message)", file: file, line: sourceLine)
    if let line {
        XCTAssertTrue(message.contains("\(path):\(line):"), "message does not name line \(line): \(message)", file: file, line: sourceLine)
    }
    for phrase in phrases {
        XCTAssertTrue(message.contains(phrase), "message lacks '\(phrase)': \(message)", file: file, line: sourceLine)
    }
}
