// Atomic file replacement: write a temporary file in the destination's folder, fsync it,
// rename it over the destination, fsync the folder. A reader (or a run killed at any
// moment) sees either the old complete file or the new complete file, never a mix.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes `data` to `url` atomically. Leaves no temporary file behind on failure.
public func writeAtomically(_ data: Data, to url: URL) throws {
    let directory = url.deletingLastPathComponent()
    let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UUID().uuidString.prefix(8))")
    let path = url.path
    let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else {
        throw FeatureStoreError.cannotWrite(file: path, reason: String(cString: strerror(errno)))
    }
    var failure: String?
    data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
        var offset = 0
        while offset < buffer.count {
            let written = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                failure = String(cString: strerror(errno)); return
            }
            offset += written
        }
    }
    if failure == nil, fsync(descriptor) != 0 { failure = String(cString: strerror(errno)) }
    if close(descriptor) != 0, failure == nil { failure = String(cString: strerror(errno)) }
    if failure == nil, rename(temporary.path, path) != 0 { failure = String(cString: strerror(errno)) }
    if let failure {
        unlink(temporary.path)
        throw FeatureStoreError.cannotWrite(file: path, reason: failure)
    }
    synchronizeDirectory(directory)
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
