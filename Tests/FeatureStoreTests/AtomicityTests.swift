import Foundation
import XCTest
import FeatureStore
import TestSupport

final class AtomicityTests: XCTestCase {
    /// A write that fails at the last step (the rename) leaves the previous file intact and no temporary file.
    func testFailedReplaceKeepsThePreviousFileAndLeavesNoTemporary() throws {
        let directory = try temporaryDirectory("atomic")
        defer { try? FileManager.default.removeItem(at: directory) }
        // The destination is a non-empty folder, so rename(2) fails after the data was written and synced.
        let blocked = directory.appendingPathComponent("blocked.npy")
        try FileManager.default.createDirectory(at: blocked, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: blocked.appendingPathComponent("inside"))
        XCTAssertThrowsError(try NPYArray(shape: [2], values: [1, 2]).write(to: blocked)) { error in
            XCTAssertTrue(error.localizedDescription.contains(blocked.path), error.localizedDescription)
        }
        XCTAssertEqual(try String(contentsOf: blocked.appendingPathComponent("inside"), encoding: .utf8), "keep")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["blocked.npy"])

        // A successful replace swaps the whole file.
        let url = directory.appendingPathComponent("a.npy")
        try NPYArray(shape: [3], values: [1, 2, 3]).write(to: url)
        try NPYArray(shape: [1, 2], values: [7, 8]).write(to: url)
        XCTAssertEqual(try NPYArray.read(from: url), NPYArray(shape: [1, 2], values: [7, 8]))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted(), ["a.npy", "blocked.npy"])
    }

    /// A FeatureSet whose manifest write fails leaves no manifest describing the new matrix.
    func testManifestIsRemovedBeforeTheMatrixIsReplaced() throws {
        let directory = try temporaryDirectory("atomic")
        defer { try? FileManager.default.removeItem(at: directory) }
        let npy = directory.appendingPathComponent("x.npy")
        let manifest = sampleManifest()
        try FeatureSet(manifest: manifest, ids: manifest.imageIDs, shape: [3, 4], values: Array(repeating: 1, count: 12)).write(npy: npy)
        // Make the matrix write fail: the .npy path becomes a non-empty folder.
        try FileManager.default.removeItem(at: npy)
        try FileManager.default.createDirectory(at: npy, withIntermediateDirectories: true)
        try Data().write(to: npy.appendingPathComponent("x"))
        XCTAssertThrowsError(try FeatureSet(manifest: manifest, ids: manifest.imageIDs, shape: [3, 4], values: Array(repeating: 2, count: 12)).write(npy: npy))
        XCTAssertFalse(FileManager.default.fileExists(atPath: FeatureSet.manifestURL(for: npy).path),
                       "a manifest survived while its matrix could not be written")
    }

    func testLockRefusesASecondHolderAndIsFreedOnRelease() throws {
        let directory = try temporaryDirectory("lock")
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try CacheLock(directory: directory)
        XCTAssertThrowsError(try CacheLock(directory: directory)) { error in
            XCTAssertTrue(error.localizedDescription.contains(".extract.lock"), error.localizedDescription)
            XCTAssertTrue(error.localizedDescription.contains("pid \(getpid())"), error.localizedDescription)
        }
        first.release()
        XCTAssertNoThrow(try CacheLock(directory: directory).release())
    }

    func testPartialRowsSurviveOnlyUnderTheSameSettings() throws {
        let directory = try temporaryDirectory("partial")
        defer { try? FileManager.default.removeItem(at: directory) }
        let folder = directory.appendingPathComponent("x.partial")
        let manifest = sampleManifest()
        let rows = try PartialRows(directory: folder, settings: manifest)
        try rows.save([1, 2, 3, 4], for: "hash-a")
        XCTAssertEqual(try PartialRows(directory: folder, settings: manifest).row(for: "hash-a"), [1, 2, 3, 4])
        XCTAssertNil(rows.row(for: "hash-b"))
        // A damaged row reads as missing, so it is extracted again.
        try Data("garbage".utf8).write(to: folder.appendingPathComponent("hash-c.npy"))
        XCTAssertNil(rows.row(for: "hash-c"))
        var other = manifest
        other.weightsSHA256 = "different"
        XCTAssertNil(try PartialRows(directory: folder, settings: other).row(for: "hash-a"))
    }
}
