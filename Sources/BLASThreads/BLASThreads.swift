// OpenBLAS's thread count: one process-wide setting, and this file is its only writer.
//
// Two kinds of caller want different counts. Callers that spread independent work over the cores themselves
// (a convolution's pieces, cross-validation folds, one-vs-rest GP fits) want OpenBLAS on one thread: its own
// threads would oversubscribe the cores and spin in sched_yield around every small call. A caller making one
// large call alone (the fully connected layer, the GEMM benchmark) wants its context's thread count.
// Both ask through a scope: while any scopes are open, OpenBLAS runs the smallest count among them (an open
// one-thread scope means the cores are already busy with its workers, so a request for more must not
// oversubscribe them); when the last one closes, the count the process had before the first one is restored.
// Scopes may nest and may open and close on different threads in any order; a lock serialises the
// bookkeeping, and OpenBLAS is only told when the count changes.

import COpenBLAS
import Foundation

public enum BLASThreads {
    private static let lock = NSLock()
    /// Open scopes by identifier, each with the count it asked for (touched only under `lock`).
    nonisolated(unsafe) private static var scopes: [UInt64: Int32] = [:]
    nonisolated(unsafe) private static var nextIdentifier: UInt64 = 0
    /// OpenBLAS's count before the first of the open scopes (nil when none is open).
    nonisolated(unsafe) private static var countOutsideScopes: Int32?

    /// The thread count OpenBLAS runs now (1 inside any one-thread scope).
    public static var count: Int { Int(openblas_get_num_threads()) }

    /// Runs `body` with OpenBLAS on at most `count` threads (fewer when an enclosing or concurrent scope asked
    /// for fewer), restoring the process's own count when the last open scope ends.
    public static func with<Result>(_ count: Int, _ body: () throws -> Result) rethrows -> Result {
        precondition(count >= 1, "a BLAS thread count must be at least 1")
        let identifier = open(Int32(clamping: count))
        defer { close(identifier) }
        return try body()
    }

    /// Runs `body` with OpenBLAS on one thread: for callers whose own workers are the parallelism.
    public static func single<Result>(_ body: () throws -> Result) rethrows -> Result {
        try with(1, body)
    }

    private static func open(_ count: Int32) -> UInt64 {
        lock.lock(); defer { lock.unlock() }
        if scopes.isEmpty { countOutsideScopes = openblas_get_num_threads() }
        nextIdentifier += 1
        scopes[nextIdentifier] = count
        apply(scopes.values.min()!)
        return nextIdentifier
    }

    private static func close(_ identifier: UInt64) {
        lock.lock(); defer { lock.unlock() }
        scopes[identifier] = nil
        if let smallest = scopes.values.min() {
            apply(smallest)
        } else if let outside = countOutsideScopes {
            apply(outside)
            countOutsideScopes = nil
        }
    }

    private static func apply(_ count: Int32) {
        if openblas_get_num_threads() != count { openblas_set_num_threads(count) }
    }
}
