import Foundation
import XCTest
import Extraction
import FeatureStore
import TestSupport

/// Runs an extraction in a child process (this test binary, filtered to the helper below),
/// kills it with SIGKILL at several moments, and checks that the next run resumes to a cache
/// identical to an uninterrupted run.
final class KillResumeTests: XCTestCase {
    static let childVariable = "CARCINOMA_EXTRACT_CHILD"

    func testKillNineMidRunThenResumeGivesIdenticalCache() throws {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0], relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        guard FileManager.default.isExecutableFile(atPath: executable.path), executable.path.hasSuffix(".xctest") else {
            throw XCTSkip("cannot re-launch the test binary here (\(executable.path)); the kill test needs Linux XCTest")
        }
        let directory = try temporaryDirectory("kill")
        defer { try? FileManager.default.removeItem(at: directory) }
        let sizes = (0..<14).map { (24 + 3 * ($0 % 5), 20 + 4 * ($0 % 3)) }
        let folder = try makeImageFolder(directory, sizes: sizes)
        let reference = try extract(folder, into: directory.appendingPathComponent("reference"), batchSize: 2).features
        let output = directory.appendingPathComponent("killed")

        // Kill moments: first once two rows are saved, then at seeded pseudo-random delays.
        var generator = SplitMixForTests(seed: 20261127)
        var delays: [Double?] = [nil]
        for _ in 0..<3 { delays.append(0.05 + Double(generator.next() % 1000) / 1000 * 1.5) }
        var killedMidway = 0
        for delay in delays {
            let child = Process()
            child.executableURL = executable
            child.arguments = ["ExtractionTests.KillResumeChildHelper/testChildExtraction"]
            var environment = ProcessInfo.processInfo.environment
            environment[Self.childVariable] = "\(folder.path)\n\(output.path)"
            child.environment = environment
            child.standardOutput = FileHandle.nullDevice
            child.standardError = FileHandle.nullDevice
            try child.run()
            defer { if child.isRunning { kill(child.processIdentifier, SIGKILL); child.waitUntilExit() } }
            let partial = output.appendingPathComponent("tiny-native.partial")
            let start = Date()
            while child.isRunning, Date().timeIntervalSince(start) < 120 {
                if let delay {
                    if Date().timeIntervalSince(start) >= delay { break }
                } else {
                    let rows = (try? FileManager.default.contentsOfDirectory(atPath: partial.path))?.filter { $0.hasSuffix(".npy") && !$0.hasPrefix(".") }.count ?? 0
                    if rows >= 2 { break }
                }
                usleep(2_000)
            }
            if child.isRunning { killedMidway += 1 }
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            // Whatever moment it died at, a final cache present is complete and loadable.
            let npy = output.appendingPathComponent("tiny-native.npy")
            if FileManager.default.fileExists(atPath: FeatureSet.manifestURL(for: npy).path) {
                XCTAssertNoThrow(try FeatureSet.load(npy: npy), "a killed run left a corrupt cache")
            }
        }
        XCTAssertGreaterThan(killedMidway, 0, "the child always finished before the kill; slow it down")
        let resumed = try extract(folder, into: output, batchSize: 2)
        XCTAssertGreaterThan(resumed.summary.reused, 0, "nothing was resumed")
        XCTAssertEqual(resumed.features.ids, reference.ids)
        XCTAssertEqual(resumed.features.manifest, reference.manifest.map { manifest in
            var copy = manifest
            copy.dataset = resumed.features.manifest?.dataset ?? manifest.dataset
            return copy
        })
        XCTAssertEqual(resumed.features.values, reference.values, "resumed cache differs from an uninterrupted run")
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.appendingPathComponent("tiny-native.partial").path))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: output.path).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [], "temporary files left behind")
    }
}

/// The child side of the kill test: a slow extraction, only when launched by it.
final class KillResumeChildHelper: XCTestCase {
    func testChildExtraction() throws {
        guard let paths = ProcessInfo.processInfo.environment[KillResumeTests.childVariable]?.split(separator: "\n").map(String.init),
              paths.count == 2 else {
            throw XCTSkip("helper process for KillResumeTests; runs only when that test launches it")
        }
        try extract(URL(fileURLWithPath: paths[0]), into: URL(fileURLWithPath: paths[1]), batchSize: 2,
                    loaded: tinyLoaded(secondsPerBatch: 0.12))
    }
}

/// SplitMix64 (Steele et al. 2014) for seeded kill moments.
struct SplitMixForTests {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
