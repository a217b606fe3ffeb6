// Atomic file replacement: write a temporary file in the destination's folder, fsync it,
// rename it over the destination, fsync the folder. A reader (or a run killed at any
// moment) sees either the old complete file or the new complete file, never a mix.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes `data` to `url` atomically. Leaves no temporary file behind on failure; on failure the
/// previous file at `url` (if any) is untouched.
public func writeAtomically(_ data: Data, to url: URL) throws {
    try prepareAtomicWrite(data, to: url).commit()
}

/// Replaces several files so that an error while writing (a full disk, a file-size limit, an
/// unwritable folder) leaves every previous file untouched: all contents go to fsync'ed temporary
/// files first, and only when every one is complete are they renamed over their destinations, in
/// order. Renames need no space, so the second phase does not fail for a full disk; a process
/// killed between two renames leaves each file complete (some new, some old).
public func writeAtomically(_ files: [(data: Data, url: URL)]) throws {
    var prepared: [PreparedFile] = []
    do {
        for file in files { prepared.append(try prepareAtomicWrite(file.data, to: file.url)) }
    } catch {
        for file in prepared { file.discard() }
        throw error
    }
    for (index, file) in prepared.enumerated() {
        do { try file.commit() } catch {
            for later in prepared[(index + 1)...] { later.discard() }
            throw error
        }
    }
}

/// A file written in full to a temporary beside its destination (fsync'ed), not yet in place.
/// Exactly one of `commit()` or `discard()` must follow.
public struct PreparedFile: Sendable {
    public let temporary: URL
    public let destination: URL

    /// Renames the temporary over the destination and syncs the folder; removes the temporary on failure.
    public func commit() throws {
        if rename(temporary.path, destination.path) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(temporary.path)
            throw FeatureStoreError.cannotWrite(file: destination.path, reason: reason)
        }
        synchronizeDirectory(destination.deletingLastPathComponent())
    }

    /// Removes the temporary; the destination stays as it was.
    public func discard() {
        unlink(temporary.path)
    }
}

/// Writes `data` to a new temporary file in `url`'s folder and fsyncs it. Errors name `url`;
/// on an error no temporary file is left behind.
public func prepareAtomicWrite(_ data: Data, to url: URL) throws -> PreparedFile {
    let directory = url.deletingLastPathComponent()
    let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UUID().uuidString.prefix(8))")
    let path = url.path
    let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else {
        throw FeatureStoreError.cannotWrite(file: path, reason: String(cString: strerror(errno)))
    }
    var failure: String?
    data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
        guard let base = buffer.baseAddress else { return }
        var offset = 0
        while offset < buffer.count {
            let written = write(descriptor, base + offset, buffer.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                failure = String(cString: strerror(errno)); return
            }
            offset += written
        }
    }
    if failure == nil, fsync(descriptor) != 0 { failure = String(cString: strerror(errno)) }
    if close(descriptor) != 0, failure == nil { failure = String(cString: strerror(errno)) }
    if let failure {
        unlink(temporary.path)
        throw FeatureStoreError.cannotWrite(file: path, reason: failure)
    }
    return PreparedFile(temporary: temporary, destination: url)
}

/// fsync on the folder so the rename itself survives a crash (best effort).
func synchronizeDirectory(_ directory: URL) {
    let descriptor = open(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if descriptor >= 0 { _ = fsync(descriptor); close(descriptor) }
}

/// Reads a whole file, turning Foundation's error into one that names the file.
func readWholeFile(_ url: URL) throws -> Data {
    do { return try Data(contentsOf: url) } catch {
        let reason = FileManager.default.fileExists(atPath: url.path) ? error.localizedDescription : "no such file"
        throw FeatureStoreError.cannotRead(file: url.path, reason: reason)
    }
}
