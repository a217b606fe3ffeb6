// Faults while `carcinoma compare`, `report` and `submit` write their outputs: a full disk (a
// filled tmpfs: ENOSPC; and, always, a file-size limit: EFBIG), a read-only or permission-denied
// output folder, an output path through a regular file. Each run is the real executable in a
// child process on a small generated problem. What every test checks after the failing run: a
// non-zero exit, an error naming the file, the previous good outputs byte-identical and not
// replaced (same inode), and no temporary file left in the output folders.

import Evaluation
import FeatureStore
import Foundation
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Inputs for the commands: 24 labelled ids (8 per OxML label), 60 unlabelled, 5 features each.
struct CommandInputs {
    let folder: URL
    var features: URL { folder.appendingPathComponent("features.npy") }
    var ids: URL { folder.appendingPathComponent("ids.txt") }
    var labels: URL { folder.appendingPathComponent("labels.csv") }
    var images: URL { folder.appendingPathComponent("images") }

    /// `labelOf(index)` gives the label of labelled row `index` (0..<24) as written in the CSV.
    init(_ folder: URL, labelOf: (Int) -> Int = { [-1, 0, 1][$0 % 3] }) throws {
        self.folder = folder
        let count = 84, labelled = 24, width = 5
        var state: UInt64 = 20261127
        func uniform() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(state >> 40) / Float(1 << 24)
        }
        var values: [Float] = []
        var labels = "id,malignant\n"
        for row in 0..<count {
            let label = row < labelled ? labelOf(row) : [-1, 0, 1][row % 3]
            for column in 0..<width { values.append(Float(label) * (column == 0 ? 2 : 0.5) + uniform()) }
            if row < labelled { labels += "\(row + 1),\(label)\n" }
        }
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        try NPYArray(shape: [count, width], values: values).write(to: features)
        try Data((1...count).map(String.init).joined(separator: "\n").utf8).write(to: ids)
        try Data(labels.utf8).write(to: self.labels)
        // submit lists the folder only (the test images are its ids minus the labelled ones).
        for id in 1...count { try Data().write(to: images.appendingPathComponent("\(id).png")) }
        makeWorldReadable(folder)
    }

    func compare(out: URL, seed: Int, extra: [String] = []) -> [String] {
        ["compare", "--features", features.path, "--ids", ids.path, "--labels", labels.path, "--heads", "softmax",
         "--folds", "2", "--inner-folds", "2", "--no-ensembles", "--threads", "1", "--seed", "\(seed)", "--out", out.path] + extra
    }

    func submit(out: URL, seed: Int, extra: [String] = []) -> [String] {
        ["submit", "--features", features.path, "--ids", ids.path, "--labels", labels.path, "--images", images.path,
         "--head", "softmax", "--folds", "2", "--inner-folds", "2", "--threads", "1", "--seed", "\(seed)", "--out", out.path] + extra
    }
}

/// Folders 0755 and files 0644 below `folder`, so that an unprivileged child can read the inputs.
func makeWorldReadable(_ folder: URL) {
    chmod(folder.path, 0o755)
    guard let walker = FileManager.default.enumerator(atPath: folder.path) else { return }
    for case let relative as String in walker {
        let path = folder.appendingPathComponent(relative).path
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        chmod(path, isDirectory.boolValue ? 0o755 : 0o644)
    }
}

/// The outputs of one good compare + report + submit run, and their snapshots.
struct GoodOutputs {
    let compare: URL
    let submission: URL
    /// A second compare folder (another seed): the input of the report rerun, so its output differs.
    let otherCompare: URL

    var files: [URL] {
        [compare.appendingPathComponent("results.json"), compare.appendingPathComponent("oof_probabilities.csv"),
         compare.appendingPathComponent("report.md"), compare.appendingPathComponent("report.html"),
         submission, Submission.probabilitiesURL(for: submission)]
    }

    func snapshots() throws -> [FileSnapshot] { try files.map(FileSnapshot.init) }

    static func make(in root: URL, other: URL, inputs: CommandInputs) throws -> GoodOutputs {
        let outputs = GoodOutputs(compare: root.appendingPathComponent("compare"),
                                  submission: root.appendingPathComponent("submission/submission.csv"),
                                  otherCompare: other.appendingPathComponent("compare-seed-1"))
        try expectSuccess(runCarcinoma(inputs.compare(out: outputs.compare, seed: 0)))
        try expectSuccess(runCarcinoma(["report", "--results", outputs.compare.path]))
        try expectSuccess(runCarcinoma(inputs.submit(out: outputs.submission, seed: 0)))
        try expectSuccess(runCarcinoma(inputs.compare(out: outputs.otherCompare, seed: 1)))
        return outputs
    }
}

func expectSuccess(_ result: ChildResult, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(result.status, 0, "carcinoma failed: \(result.error)", file: file, line: line)
}

/// The run failed, its error names `path` and says `reason`.
func expectRefusal(_ result: ChildResult, names path: String, saying reason: String,
                   file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertNotEqual(result.status, 0, "the run should have failed; it printed: \(result.output)", file: file, line: line)
    XCTAssertTrue(result.error.contains(path), "the error does not name \(path): \(result.error)", file: file, line: line)
    XCTAssertTrue(result.error.contains(reason), "the error does not say '\(reason)': \(result.error)", file: file, line: line)
}

final class OutputFaultTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        _ = try carcinomaExecutable()
        directory = try temporaryDirectory("output-faults")
    }

    override func tearDown() {
        if let directory {
            makeWritable(directory)
            try? FileManager.default.removeItem(at: directory)
        }
    }

    private func makeWritable(_ folder: URL) {
        guard let walker = FileManager.default.enumerator(atPath: folder.path) else { return }
        for case let relative as String in walker {
            var isDirectory: ObjCBool = false
            let path = folder.appendingPathComponent(relative).path
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue { chmod(path, 0o755) }
        }
    }

    /// Which file of each command's output group the failure is expected on.
    struct FailingFiles {
        /// report.md (the first of the group) or report.html (the second, once report.md is complete).
        var report = "report.md"
        /// submission.csv (refused by the check before the cross-validation: an unwritable folder)
        /// or probabilities.csv (the first of the group, when contents do not fit).
        var submitOnProbabilities = false
    }

    /// Reruns compare, report and submit into folders holding good outputs, each expected to fail
    /// with `reason` (`limits` in 512-byte blocks per command, or nil for no limit), and checks that
    /// the previous outputs are untouched.
    private func rerunAndExpectIntact(_ good: GoodOutputs, inputs: CommandInputs, reason: String, failingOn failing: FailingFiles,
                                      limits: (compare: Int, report: Int, submit: Int)? = nil, asUser user: Int? = nil,
                                      file: StaticString = #filePath, line: UInt = #line) throws {
        let before = try good.snapshots()
        let compare = try runCarcinoma(inputs.compare(out: good.compare, seed: 1), fileSizeLimitBlocks: limits?.compare, asUser: user)
        expectRefusal(compare, names: good.compare.appendingPathComponent("results.json").path, saying: reason, file: file, line: line)
        let report = try runCarcinoma(["report", "--results", good.otherCompare.path, "--out", good.compare.path],
                                      fileSizeLimitBlocks: limits?.report, asUser: user)
        expectRefusal(report, names: good.compare.appendingPathComponent(failing.report).path, saying: reason, file: file, line: line)
        let submit = try runCarcinoma(inputs.submit(out: good.submission, seed: 1), fileSizeLimitBlocks: limits?.submit, asUser: user)
        let submitFile = failing.submitOnProbabilities ? Submission.probabilitiesURL(for: good.submission) : good.submission
        expectRefusal(submit, names: submitFile.path, saying: reason, file: file, line: line)

        let after = try good.snapshots()
        for (old, new) in zip(before, after) {
            XCTAssertEqual(old, new, "previous output changed or replaced: \(old) → \(new)", file: file, line: line)
        }
        for folder in [good.compare, good.submission.deletingLastPathComponent()] {
            XCTAssertEqual(temporaryFiles(under: folder), [], "temporary files left in \(folder.path)", file: file, line: line)
        }
    }

    /// Always runs: a file-size limit makes every write past it fail with EFBIG, like a full disk.
    func testFileSizeLimitDuringCompareReportSubmitKeepsPreviousOutputs() throws {
        let inputs = try CommandInputs(directory.appendingPathComponent("inputs"))
        let good = try GoodOutputs.make(in: directory.appendingPathComponent("out"), other: directory, inputs: inputs)
        let sizes = try good.snapshots().map(\.bytes.count)
        // results.json, oof, report.md, report.html, submission.csv, probabilities.csv.
        let block = 512
        XCTAssertGreaterThan(sizes[0], 2 * block, "results.json too small for a one-block limit")
        // report: a limit that report.md fits in (two blocks of slack for the other seed's numbers)
        // but report.html does not, so the first file of the group is complete when the second fails.
        let reportBlocks = sizes[2] / block + 2
        XCTAssertGreaterThan(sizes[3], (reportBlocks + 2) * block, "report.html too small to exceed the limit")
        XCTAssertGreaterThan(sizes[5], 2 * block, "probabilities.csv too small for a one-block limit")
        try rerunAndExpectIntact(good, inputs: inputs, reason: "File too large",
                                 failingOn: FailingFiles(report: "report.html", submitOnProbabilities: true), limits: (1, reportBlocks, 1))

        // Without the limit the same rerun succeeds and replaces the outputs (the check above can fail).
        let before = try FileSnapshot(good.files[0])
        try expectSuccess(runCarcinoma(inputs.compare(out: good.compare, seed: 1)))
        XCTAssertNotEqual(try FileSnapshot(good.files[0]), before, "a successful rerun should replace results.json")
    }

    /// A real full disk: a 2 MB tmpfs holding the good outputs, then filled to the last byte.
    func testFullTmpfsDuringCompareReportSubmitKeepsPreviousOutputs() throws {
        let disk = try SmallDisk(bytes: 2 << 20, label: "full")
        defer { disk.unmount() }
        let inputs = try CommandInputs(directory.appendingPathComponent("inputs"))
        let good = try GoodOutputs.make(in: disk.url, other: directory, inputs: inputs)
        try disk.fill()
        try rerunAndExpectIntact(good, inputs: inputs, reason: "No space left on device",
                                 failingOn: FailingFiles(report: "report.md", submitOnProbabilities: true))
        disk.drain()
        try expectSuccess(runCarcinoma(inputs.compare(out: good.compare, seed: 1)))
    }

    /// A read-only filesystem (EROFS applies to root too).
    func testReadOnlyOutputFolderKeepsPreviousOutputs() throws {
        let disk = try SmallDisk(bytes: 2 << 20, label: "readonly")
        defer { disk.unmount() }
        let inputs = try CommandInputs(directory.appendingPathComponent("inputs"))
        let good = try GoodOutputs.make(in: disk.url, other: directory, inputs: inputs)
        try disk.makeReadOnly()
        try rerunAndExpectIntact(good, inputs: inputs, reason: "Read-only file system", failingOn: FailingFiles())
    }

    /// Always runs: output folders without write permission (the child drops root through
    /// setpriv, since root ignores permissions). Refused before the cross-validation starts.
    func testPermissionDeniedOutputFolderKeepsPreviousOutputs() throws {
        let user = try unprivilegedUserForChild()
        if user != nil { try requireReachableByOthers(try carcinomaExecutable()) }
        let inputs = try CommandInputs(directory.appendingPathComponent("inputs"))
        let good = try GoodOutputs.make(in: directory.appendingPathComponent("out"), other: directory, inputs: inputs)
        makeWorldReadable(directory)
        for folder in [good.compare, good.submission.deletingLastPathComponent()] { chmod(folder.path, 0o555) }
        try rerunAndExpectIntact(good, inputs: inputs, reason: "Permission denied", failingOn: FailingFiles(), asUser: user)
    }

    /// Always runs: an output path through a regular file cannot become a folder.
    func testOutputPathThroughARegularFileIsRefused() throws {
        let inputs = try CommandInputs(directory.appendingPathComponent("inputs"))
        let blocker = directory.appendingPathComponent("blocker")
        try Data("a file, not a folder\n".utf8).write(to: blocker)
        let compareOut = blocker.appendingPathComponent("compare")
        expectRefusal(try runCarcinoma(inputs.compare(out: compareOut, seed: 0)), names: compareOut.path, saying: "cannot create the output folder: Not a directory")
        let submission = blocker.appendingPathComponent("runs/submission.csv")
        expectRefusal(try runCarcinoma(inputs.submit(out: submission, seed: 0)),
                      names: submission.deletingLastPathComponent().path, saying: "cannot create the output folder: Not a directory")
        let report = try runCarcinoma(inputs.compare(out: directory.appendingPathComponent("compare"), seed: 0))
        expectSuccess(report)
        expectRefusal(try runCarcinoma(["report", "--results", directory.appendingPathComponent("compare").path, "--out", compareOut.path]),
                      names: compareOut.path, saying: "cannot create the output folder: Not a directory")
        XCTAssertEqual(try Data(contentsOf: blocker), Data("a file, not a folder\n".utf8))
    }

    /// Skips unless an unprivileged child can reach `path` (every folder above it searchable by others).
    private func requireReachableByOthers(_ path: String) throws {
        var folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        while folder.path != "/" {
            var info = stat()
            if stat(folder.path, &info) == 0, info.st_mode & 0o001 == 0 {
                throw XCTSkip("\(folder.path) is not searchable by other users, so the unprivileged child cannot run carcinoma from here")
            }
            folder = folder.deletingLastPathComponent()
        }
    }
}
