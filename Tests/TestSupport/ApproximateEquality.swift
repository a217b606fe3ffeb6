// The one approximate-equality helper for numeric tests: it reports the largest
// difference and where it was, so a failure says what went wrong.

import Foundation

public struct Comparison: CustomStringConvertible {
    public var maxAbsoluteDifference: Double
    public var worstIndex: Int
    public var relativeL2Error: Double
    public var cosine: Double
    public var count: Int

    public var description: String {
        String(format: "max |diff| %.3g at index %d, relative L2 error %.3g, cosine %.8f over %d values",
               maxAbsoluteDifference, worstIndex, relativeL2Error, cosine, count)
    }
}

/// Compares `actual` with `expected` element by element.
public func compare<A: BinaryFloatingPoint, B: BinaryFloatingPoint>(_ actual: [A], _ expected: [B]) -> Comparison {
    precondition(actual.count == expected.count, "compared arrays differ in length: \(actual.count) vs \(expected.count)")
    var maxDiff = 0.0, worst = -1, diffSquares = 0.0, expectedSquares = 0.0, actualSquares = 0.0, dot = 0.0
    for i in 0..<actual.count {
        let a = Double(actual[i]), e = Double(expected[i])
        let d = abs(a - e)
        if d > maxDiff || d.isNaN { maxDiff = d; worst = i }
        diffSquares += (a - e) * (a - e)
        expectedSquares += e * e
        actualSquares += a * a
        dot += a * e
    }
    let rel = expectedSquares > 0 ? (diffSquares / expectedSquares).squareRoot() : diffSquares.squareRoot()
    let cosine = (actualSquares > 0 && expectedSquares > 0) ? dot / (actualSquares.squareRoot() * expectedSquares.squareRoot()) : 1
    return Comparison(maxAbsoluteDifference: maxDiff, worstIndex: worst, relativeL2Error: rel, cosine: cosine, count: actual.count)
}

/// True when every element satisfies |a - e| <= absoluteTolerance + relativeTolerance * |e|
/// (numpy.allclose); the message names the worst element.
public func allClose<A: BinaryFloatingPoint, B: BinaryFloatingPoint>(
    _ actual: [A], _ expected: [B], relativeTolerance: Double = 1e-5, absoluteTolerance: Double = 0
) -> (ok: Bool, message: String) {
    guard actual.count == expected.count else { return (false, "length \(actual.count) vs \(expected.count)") }
    var worstExcess = -Double.infinity, worst = -1
    for i in 0..<actual.count {
        let a = Double(actual[i]), e = Double(expected[i])
        let excess = abs(a - e) - (absoluteTolerance + relativeTolerance * abs(e))
        if excess > worstExcess || excess.isNaN { worstExcess = excess; worst = i }
    }
    let ok = actual.isEmpty || worstExcess <= 0
    let message = worst < 0 ? "empty" :
        "worst element \(worst): actual \(actual[worst]), expected \(expected[worst]); " + compare(actual, expected).description
    return (ok, message)
}

/// Shared data (../shared relative to the package root), or nil when absent so tests can skip.
public func sharedDirectory(file: StaticString = #filePath) -> URL? {
    var url = URL(fileURLWithPath: "\(file)")
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            let shared = url.deletingLastPathComponent().appendingPathComponent("shared")
            if let env = ProcessInfo.processInfo.environment["CARCINOMA_SHARED"] { return URL(fileURLWithPath: env) }
            return FileManager.default.fileExists(atPath: shared.path) ? shared : nil
        }
    }
    return nil
}

/// A fresh temporary directory, removed by the caller.
public func temporaryDirectory(_ label: String = "carcinoma") throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
