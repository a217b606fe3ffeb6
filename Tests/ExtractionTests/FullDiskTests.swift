import Foundation
import XCTest
import Extraction
import FeatureStore
import TestSupport

/// A full disk while `extract` rewrites a cache that grew by six images: the run fails with an
/// error naming the file, the previous cache (.npy and manifest) stays byte-identical and in place,
/// no temporary file is left, and the next run with space resumes to the same cache as an
/// uninterrupted extraction.
final class FullDiskTests: XCTestCase {
    private let sizes = (0..<12).map { (24 + 3 * ($0 % 5), 20 + 4 * ($0 % 3)) }

    /// The image folder holds the first six images; `addRest` copies in the other six.
    private func makeFolders(_ directory: URL) throws -> (folder: URL, addRest: () throws -> Void, reference: FeatureSet) {
        let all = try makeImageFolder(directory.appendingPathComponent("all"), sizes: sizes)
        let reference = try extract(all, into: directory.appendingPathComponent("reference")).features
        let folder = directory.appendingPathComponent("images-\(UUID().uuidString.prefix(4))").appendingPathComponent("images")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let names = try FileManager.default.contentsOfDirectory(atPath: all.path).sorted()
        for name in names.prefix(6) { try FileManager.default.copyItem(at: all.appendingPathComponent(name), to: folder.appendingPathComponent(name)) }
        let addRest = {
            for name in names.dropFirst(6) { try FileManager.default.copyItem(at: all.appendingPathComponent(name), to: folder.appendingPathComponent(name)) }
        }
        return (folder, addRest, reference)
    }

    private func cacheFiles(_ output: URL) -> [URL] {
        let npy = output.appendingPathComponent("tiny-native.npy")
        return [npy, FeatureSet.manifestURL(for: npy)]
    }

    /// The cache after the failure and after the resumed run.
    private func checkIntactThenResume(output: URL, folder: URL, before: [FileSnapshot], reference: FeatureSet,
                                       file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(try cacheFiles(output).map(FileSnapshot.init), before, "the previous cache changed", file: file, line: line)
        XCTAssertEqual(temporaryFiles(under: output), [], "temporary files left behind", file: file, line: line)
        let resumed = try extract(folder, into: output)
        XCTAssertEqual(resumed.summary.reused + resumed.summary.extracted, 12, file: file, line: line)
        XCTAssertEqual(resumed.features.ids, reference.ids, file: file, line: line)
        XCTAssertEqual(resumed.features.values, reference.values, "resumed cache differs from an uninterrupted run", file: file, line: line)
        XCTAssertEqual(temporaryFiles(under: output), [], file: file, line: line)
    }

    /// Always runs: a file-size limit just above the old manifest. The six new rows and the new
    /// matrix fit; the new manifest (six more ids and hashes) does not, so it fails after the matrix
    /// is complete in its temporary file: neither old file may be touched.
    func testFileSizeLimitWhileRewritingTheCacheKeepsThePreviousCache() throws {
        let directory = try temporaryDirectory("fsize-extract")
        defer { try? FileManager.default.removeItem(at: directory) }
        let (folder, addRest, reference) = try makeFolders(directory)
        let output = directory.appendingPathComponent("features")
        try extract(folder, into: output)
        let before = try cacheFiles(output).map(FileSnapshot.init)
        try addRest()
        let limit = before[1].bytes.count + 64
        XCTAssertLessThan(128 + 12 * 6 * 4, limit, "the new matrix should fit under the limit")

        var caught: Error?
        try withFileSizeLimit(limit, probeFolder: directory) {
            do { try extract(folder, into: output) } catch { caught = error }
        }
        let manifest = cacheFiles(output)[1].path
        XCTAssertEqual(caught as? FeatureStoreError, .cannotWrite(file: manifest, reason: "File too large"),
                       "expected the manifest write to fail: \(String(describing: caught))")
        XCTAssertTrue(FileManager.default.fileExists(atPath: output.appendingPathComponent("tiny-native.partial").path),
                      "the six new rows should stay for the resume")
        try checkIntactThenResume(output: output, folder: folder, before: before, reference: reference)
    }

    /// A real full disk (skips where mounting is not permitted): the cache on a 1 MB tmpfs. First
    /// the disk is filled up to pages for the partial folder's settings and the six new rows (tmpfs
    /// gives every file whole 4 KiB pages), so the run fails when writing the new cache; then it
    /// is filled to the last byte, so the next run fails on its first write. Each time the previous
    /// cache stays intact.
    func testFullTmpfsWhileRewritingTheCacheKeepsThePreviousCache() throws {
        let disk = try SmallDisk(bytes: 1 << 20, label: "extract")
        defer { disk.unmount() }
        let directory = try temporaryDirectory("full-extract")
        defer { try? FileManager.default.removeItem(at: directory) }
        let (folder, addRest, reference) = try makeFolders(directory)
        let output = disk.url.appendingPathComponent("features")
        try extract(folder, into: output)
        let before = try cacheFiles(output).map(FileSnapshot.init)
        try addRest()

        // Pages the run needs before the cache: the lock file's pid line (emptied on release), the
        // partial folder's settings.json (the manifest without ids and hashes: at most as many pages
        // as the old manifest) and six rows. That bound leaves at most one spare page, and the new
        // cache (a matrix and a manifest larger than the old one) needs more.
        let page = 4096
        let settingsPages = (before[1].bytes.count + page - 1) / page
        try disk.fill(leavingPages: 1 + settingsPages + 6)
        XCTAssertThrowsError(try extract(folder, into: output)) { error in
            let message = error.localizedDescription
            XCTAssertTrue(message.contains("No space left on device"), message)
            XCTAssertTrue(message.contains(self.cacheFiles(output)[0].path) || message.contains(self.cacheFiles(output)[1].path),
                          "expected the new cache write to fail: \(message)")
        }
        XCTAssertEqual(try cacheFiles(output).map(FileSnapshot.init), before, "the previous cache changed")
        XCTAssertEqual(temporaryFiles(under: output), [], "temporary files left behind")

        disk.drain()
        try disk.fill()
        XCTAssertThrowsError(try extract(folder, into: output)) { error in
            let message = error.localizedDescription
            XCTAssertTrue(message.contains(output.path) && message.contains("No space left on device"), message)
        }
        disk.drain()
        try checkIntactThenResume(output: output, folder: folder, before: before, reference: reference)
    }
}
