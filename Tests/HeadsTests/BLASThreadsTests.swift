// The one owner of OpenBLAS's thread count: scopes nest, the smallest open count wins, and the count outside
// every scope comes back only after the last one closes, whichever thread closes it.

import BLASThreads
import Dispatch
import Foundation
import XCTest

final class BLASThreadsTests: XCTestCase {
    func testNestedScopesTakeTheSmallestCountAndRestoreTheOuterOne() {
        let outside = BLASThreads.count
        BLASThreads.with(3) {
            XCTAssertEqual(BLASThreads.count, 3)
            BLASThreads.single {
                XCTAssertEqual(BLASThreads.count, 1)
                BLASThreads.with(2) { XCTAssertEqual(BLASThreads.count, 1, "a scope inside a one-thread scope must not raise the count") }
                XCTAssertEqual(BLASThreads.count, 1)
            }
            XCTAssertEqual(BLASThreads.count, 3, "closing the inner scope restores the enclosing scope's count")
        }
        XCTAssertEqual(BLASThreads.count, outside, "closing the last scope restores the process's own count")
    }

    /// Overlapping one-thread scopes on separate threads (started explicitly, so there are four of them even on a
    /// one-core machine), each closing at a different time: none of them may see the count rise while it is open,
    /// and the count outside them comes back once all have closed. (Saving and restoring per scope fails this: the
    /// first to close restores the count while the others still run.)
    func testOverlappingScopesOnSeparateThreadsStayOnOneThreadUntilTheLastCloses() {
        let workers = 4
        BLASThreads.with(3) {   // a known count outside the workers' scopes, even if the process runs OpenBLAS on one
            final class Seen: @unchecked Sendable {
                let lock = NSLock()
                var counts = Set<Int>()
                func insert(_ count: Int) { lock.lock(); counts.insert(count); lock.unlock() }
            }
            let seen = Seen()
            let allOpen = DispatchGroup(), done = DispatchGroup()
            let release = DispatchSemaphore(value: 0)
            for worker in 0..<workers {
                allOpen.enter(); done.enter()
                Thread.detachNewThread {
                    BLASThreads.single {
                        allOpen.leave()
                        release.wait()
                        // Workers close one after another: each looks at the count while the later ones are still open.
                        usleep(UInt32(2_000 * (worker + 1)))
                        seen.insert(BLASThreads.count)
                    }
                    done.leave()
                }
            }
            allOpen.wait()
            XCTAssertEqual(BLASThreads.count, 1)
            for _ in 0..<workers { release.signal() }
            done.wait()
            XCTAssertEqual(seen.counts, [1], "a worker saw OpenBLAS on more than one thread inside its one-thread scope")
            XCTAssertEqual(BLASThreads.count, 3)
        }
    }
}
