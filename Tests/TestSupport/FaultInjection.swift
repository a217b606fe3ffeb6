// Faults for the robustness tests: a full disk (a small tmpfs filled up, or a file-size limit),
// an unwritable folder (a read-only remount, or permissions applied to a child without root's
// override), and running the `carcinoma` executable as a child process under them.

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a program to completion; returns its exit status and what it printed.
public struct ChildResult {
    public let status: Int32
    public let output: String
    public let error: String
}

@discardableResult
public func runChild(_ executable: String, _ arguments: [String]) throws -> ChildResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    // Both to pipes (a file-size limit on the child would cut output written to files), read at the
    // same time so that neither fills up and blocks the child.
    let output = Pipe(), error = Pipe()
    process.standardOutput = output
    process.standardError = error
    try process.run()
    let errorBox = DataBox()
    let finished = DispatchSemaphore(value: 0)
    Thread {
        errorBox.set(error.fileHandleForReading.readDataToEndOfFile())
        finished.signal()
    }.start()
    let outputData = output.fileHandleForReading.readDataToEndOfFile()
    finished.wait()
    process.waitUntilExit()
    return ChildResult(status: process.terminationStatus, output: String(decoding: outputData, as: UTF8.self),
                       error: String(decoding: errorBox.get(), as: UTF8.self))
}

/// Bytes handed from a reader thread.
private final class DataBox: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func set(_ value: Data) { lock.lock(); data = value; lock.unlock() }
    func get() -> Data { lock.lock(); defer { lock.unlock() }; return data }
}

/// The `carcinoma` executable built beside this test bundle (`swift test` builds every product).
public func carcinomaExecutable() throws -> String {
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0], relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
    var candidates = [bundle.deletingLastPathComponent().appendingPathComponent("carcinoma").path]
    #if os(macOS)
    candidates.append(Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("carcinoma").path)
    #endif
    for path in candidates where FileManager.default.isExecutableFile(atPath: path) { return path }
    throw XCTSkip("the carcinoma executable is not built beside the test bundle (looked at \(candidates.joined(separator: ", "))); run `swift build -c release` first")
}

/// Runs `carcinoma` with a file-size limit (RLIMIT_FSIZE, via the shell's `ulimit -f` in 512-byte
/// blocks) and SIGXFSZ ignored: any write past `blocks × 512` bytes of a file fails with EFBIG
/// ("File too large"), as a full disk fails with ENOSPC. Needs no privilege, so it always runs.
///
/// `memoryLimitMiB` caps the child's address space (RLIMIT_AS, `ulimit -v`): an input that makes it
/// allocate without bound then fails the allocation (and the test) instead of taking the machine.
/// `timeLimitSeconds` kills it (SIGKILL, status 137) if it has not finished by then: a hang fails.
public func runCarcinoma(_ arguments: [String], fileSizeLimitBlocks blocks: Int? = nil, asUser user: Int? = nil,
                         memoryLimitMiB: Int? = nil, timeLimitSeconds: Int? = nil,
                         environment: [String: String] = [:]) throws -> ChildResult {
    let executable = try carcinomaExecutable()
    var prefix = "trap '' XFSZ; "
    if let blocks { prefix += "ulimit -f \(blocks) || exit 90; " }
    if let memoryLimitMiB { prefix += "ulimit -v \(memoryLimitMiB * 1024) || exit 91; " }
    for (name, value) in environment.sorted(by: { $0.key < $1.key }) { prefix += "export \(name)='\(value)'; " }
    if let timeLimitSeconds { prefix += "exec timeout -s KILL \(timeLimitSeconds) \"$@\"" } else { prefix += "exec \"$@\"" }
    var command = ["/bin/sh", "-c", prefix, "sh"]
    if let user {
        // setpriv drops root (and its permission override) for the child only.
        command += ["setpriv", "--reuid=\(user)", "--regid=\(user)", "--clear-groups", "--"]
    }
    command += [executable] + arguments
    return try runChild(command[0], Array(command.dropFirst()))
}

/// The uid of an unprivileged user for `runCarcinoma(asUser:)` when the tests run as root, nil when
/// they do not (permissions already apply); throws XCTSkip when root cannot drop privileges here.
public func unprivilegedUserForChild() throws -> Int? {
    guard geteuid() == 0 else { return nil }
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") || FileManager.default.isExecutableFile(atPath: "/bin/setpriv") else {
        throw XCTSkip("running as root without setpriv(1): folder permissions do not apply to root, so this check cannot run here")
    }
    return 65534 // nobody
}

/// Runs `body` with this process's file-size limit lowered to `bytes` and SIGXFSZ ignored, then
/// restores both. Checks first that the limit really makes a larger write fail.
public func withFileSizeLimit<T>(_ bytes: Int, probeFolder: URL, _ body: () throws -> T) throws -> T {
    var previous = rlimit()
    guard getrlimit(Int32(RLIMIT_FSIZE.rawValue), &previous) == 0 else { throw XCTSkip("getrlimit(RLIMIT_FSIZE) failed") }
    let previousHandler = signal(SIGXFSZ, SIG_IGN)
    var limited = previous
    limited.rlim_cur = rlim_t(bytes)
    guard setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limited) == 0 else {
        signal(SIGXFSZ, previousHandler)
        throw XCTSkip("setrlimit(RLIMIT_FSIZE, \(bytes)) failed: \(String(cString: strerror(errno)))")
    }
    defer {
        _ = setrlimit(Int32(RLIMIT_FSIZE.rawValue), &previous)
        signal(SIGXFSZ, previousHandler)
    }
    // The probe: one byte past the limit must fail with EFBIG.
    let probe = probeFolder.appendingPathComponent(".fsize-probe")
    let descriptor = open(probe.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard descriptor >= 0 else { throw XCTSkip("cannot create \(probe.path)") }
    let bytesToWrite = [UInt8](repeating: 0, count: bytes + 1)
    let written = bytesToWrite.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    let failure = errno
    close(descriptor)
    unlink(probe.path)
    guard written == bytes || (written < 0 && failure == EFBIG) else {
        throw XCTSkip("RLIMIT_FSIZE has no effect here (wrote \(written) of \(bytes + 1) bytes)")
    }
    return try body()
}

/// A small tmpfs mounted for one test: real ENOSPC once filled, real EROFS once remounted read-only.
/// Mounting needs root with CAP_SYS_ADMIN (true in this project's CI container); elsewhere `init`
/// throws XCTSkip and the file-size-limit tests cover the same paths.
public final class SmallDisk {
    public let url: URL
    private var mounted = true

    public init(bytes: Int, label: String) throws {
        let folder = try temporaryDirectory("disk-\(label)")
        guard geteuid() == 0 else {
            try? FileManager.default.removeItem(at: folder)
            throw XCTSkip("not root: cannot mount a small tmpfs to fill up (the file-size-limit variant of this test runs instead)")
        }
        let result = try runChild("/bin/mount", ["-t", "tmpfs", "-o", "size=\(bytes),mode=0755", "tmpfs", folder.path])
        guard result.status == 0 else {
            try? FileManager.default.removeItem(at: folder)
            throw XCTSkip("mounting a tmpfs is not permitted here (\(result.error.trimmingCharacters(in: .whitespacesAndNewlines))); the file-size-limit variant of this test runs instead")
        }
        url = folder
    }

    /// Writes a filler file until the disk is full; fails unless a write ended with ENOSPC.
    public func fill() throws {
        let descriptor = open(url.appendingPathComponent("filler").path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard descriptor >= 0 else { throw XCTSkip("cannot create the filler file") }
        defer { close(descriptor) }
        let block = [UInt8](repeating: 0xAB, count: 4096)
        while true {
            let written = block.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                guard errno == ENOSPC else { throw XCTSkip("filling the disk failed with \(String(cString: strerror(errno))) instead of ENOSPC") }
                return
            }
            if written < block.count {
                // A short write: the disk is (nearly) full; the next write reports ENOSPC.
                continue
            }
        }
    }

    /// Fills the disk, then frees `pages` 4 KiB pages of the filler again (tmpfs gives every
    /// non-empty file at least one page, so that many small files still fit).
    public func fill(leavingPages pages: Int) throws {
        try fill()
        let filler = url.appendingPathComponent("filler").path
        var info = stat()
        guard stat(filler, &info) == 0, Int(info.st_size) >= pages * 4096 else { throw XCTSkip("the filler file is too small to free \(pages) pages") }
        guard truncate(filler, info.st_size - off_t(pages * 4096)) == 0 else { throw XCTSkip("cannot shrink the filler file") }
    }

    /// Frees the filler file again.
    public func drain() {
        unlink(url.appendingPathComponent("filler").path)
    }

    /// Remounts read-only: every write fails with EROFS, root included.
    public func makeReadOnly() throws {
        let result = try runChild("/bin/mount", ["-o", "remount,ro", url.path])
        guard result.status == 0 else { throw XCTSkip("cannot remount read-only: \(result.error)") }
    }

    public func unmount() {
        guard mounted else { return }
        mounted = false
        _ = try? runChild("/bin/umount", ["-l", url.path])
        try? FileManager.default.removeItem(at: url)
    }

    deinit { unmount() }
}

/// Every file (recursively) under `folder` whose name marks an unfinished atomic write.
public func temporaryFiles(under folder: URL) -> [String] {
    guard let walker = FileManager.default.enumerator(atPath: folder.path) else { return [] }
    return walker.compactMap { $0 as? String }.filter { ($0 as NSString).lastPathComponent.contains(".tmp-") }.sorted()
}

/// The bytes and inode of a file: equal snapshots mean the file was neither rewritten nor replaced.
public struct FileSnapshot: Equatable, CustomStringConvertible {
    public let path: String
    public let bytes: Data
    public let inode: UInt64

    public init(_ url: URL) throws {
        path = url.path
        bytes = try Data(contentsOf: url)
        var info = stat()
        guard stat(url.path, &info) == 0 else { throw CocoaError(.fileReadNoSuchFile) }
        inode = UInt64(info.st_ino)
    }

    public var description: String { "\(path) (\(bytes.count) bytes, inode \(inode))" }
}
