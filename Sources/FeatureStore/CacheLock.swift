// One writer per cache folder: an advisory flock on <folder>/.extract.lock holding the
// owner's pid. The kernel drops the lock when the process dies (even by SIGKILL), so a
// stale lock file never blocks the next run.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class CacheLock {
    public let url: URL
    private var descriptor: Int32

    /// Takes the lock or throws `FeatureStoreError.locked` naming the holder's pid.
    /// With `wait`, blocks until the other run finishes instead.
    public init(directory: URL, wait: Bool = false) throws {
        url = directory.appendingPathComponent(".extract.lock")
        descriptor = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw FeatureStoreError.cannotWrite(file: url.path, reason: String(cString: strerror(errno)))
        }
        if flock(descriptor, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0 {
            let reason = errno
            let holder = (try? String(contentsOf: url, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(descriptor)
            descriptor = -1
            if reason == EWOULDBLOCK {
                throw FeatureStoreError.locked(file: url.path, holder: holder.isEmpty ? "unknown process" : holder)
            }
            throw FeatureStoreError.cannotWrite(file: url.path, reason: String(cString: strerror(reason)))
        }
        let text = "pid \(getpid()) on \(ProcessInfo.processInfo.hostName)\n"
        _ = ftruncate(descriptor, 0)
        _ = text.withCString { pwrite(descriptor, $0, strlen($0), 0) }
    }

    /// Releases the lock (also done on deinit). The file stays: removing it would race a waiter.
    public func release() {
        guard descriptor >= 0 else { return }
        _ = ftruncate(descriptor, 0)
        flock(descriptor, LOCK_UN)
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}
