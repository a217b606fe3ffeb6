// parallelChunks on the persistent worker pool (WorkerPool.swift): every item runs exactly once, the chunks
// partition the items; the pool's workers really take chunks (on a machine with two cores or more);
// a body that calls parallelChunks again, and two threads calling it at once, fall back to Dispatch and still
// cover every item once.

import Dispatch
import Foundation
import XCTest
import NeuralKernels

final class WorkerPoolTests: XCTestCase {
    /// Runs parallelChunks and returns, per item, how many times it ran and the chunk range it ran in.
    private func cover(_ count: Int, threads: Int) -> (runs: [Int], ranges: [Range<Int>]) {
        let runs = UnsafeMutableBufferPointer<Int>.allocate(capacity: count)
        let ranges = UnsafeMutableBufferPointer<Range<Int>>.allocate(capacity: count)
        runs.initialize(repeating: 0)
        ranges.initialize(repeating: 0..<0)
        defer { runs.deallocate(); ranges.deallocate() }
        parallelChunks(count, KernelContext(threadCount: threads)) { chunk in
            for item in chunk { runs[item] += 1; ranges[item] = chunk }   // chunks are disjoint: no two threads share an item
        }
        return (Array(runs), Array(ranges))
    }

    func testEveryItemRunsOnceInOneContiguousChunk() {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<3000 {
            let count = round < 40 ? round : Int.random(in: 0...500, using: &generator)
            let threads = [1, 2, 3, 4][round % 4]
            let (runs, ranges) = cover(count, threads: threads)
            XCTAssertEqual(runs, [Int](repeating: 1, count: count), "count \(count), \(threads) threads")
            // The chunks partition 0..<count: each item's chunk contains it, and the chunks follow one another.
            var item = 0
            while item < count {
                let chunk = ranges[item]
                XCTAssertEqual(chunk.lowerBound, item, "count \(count), \(threads) threads")
                XCTAssertTrue(chunk.contains(item))
                for inside in chunk { XCTAssertEqual(ranges[inside], chunk) }
                item = max(chunk.upperBound, item + 1)
            }
            if threads == 1 && count > 0 { XCTAssertEqual(ranges[0], 0..<count, "one thread: one chunk") }
        }
    }

    func testWorkersTakeChunks() throws {
        guard ProcessInfo.processInfo.activeProcessorCount >= 2 else {
            throw XCTSkip("skipped: one core, the pool has no worker thread")
        }
        let lock = NSLock()
        var onWorker = 0, jobs = 0
        // Until a worker has taken a chunk, for at most 20 s (a loaded machine may keep the worker off its core
        // for a while; a pool whose workers never take a chunk fails here).
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline && onWorker == 0 {
            jobs += 1
            parallelChunks(2, KernelContext(threadCount: 2)) { _ in
                let worker = onKernelPoolWorker
                lock.lock(); onWorker += worker ? 1 : 0; lock.unlock()
                usleep(200)   // long enough that the caller cannot take both chunks before a running worker polls
            }
        }
        XCTAssertGreaterThan(onWorker, 0, "no chunk ran on a pool worker in \(jobs) jobs")
        XCTAssertFalse(onKernelPoolWorker, "the test's own thread is not a worker")
    }

    func testNestedAndConcurrentCallsCoverEveryItem() {
        let outer = 6, inner = 97
        let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: outer * inner)
        counts.initialize(repeating: 0)
        defer { counts.deallocate() }
        let lock = NSLock()
        parallelChunks(outer, KernelContext(threadCount: 2)) { rows in
            for row in rows {
                parallelChunks(inner, KernelContext(threadCount: 2)) { columns in
                    lock.lock(); for column in columns { counts[row * inner + column] += 1 }; lock.unlock()
                }
            }
        }
        XCTAssertEqual(Array(counts), [Int](repeating: 1, count: outer * inner))

        // Two threads at once: one gets the pool, the other Dispatch; both see each item once.
        let results = UnsafeMutableBufferPointer<[Int]>.allocate(capacity: 2)
        results.initialize(repeating: [])
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: 2) { caller in
            var total = [Int](repeating: 0, count: 1000)
            for _ in 0..<200 {
                let sums = UnsafeMutableBufferPointer<Int>.allocate(capacity: 1000)
                sums.initialize(repeating: 0)
                parallelChunks(1000, KernelContext(threadCount: 2)) { chunk in for item in chunk { sums[item] += 1 } }
                for item in 0..<1000 { total[item] += sums[item] }
                sums.deallocate()
            }
            results[caller] = total
        }
        XCTAssertEqual(results[0], [Int](repeating: 200, count: 1000))
        XCTAssertEqual(results[1], [Int](repeating: 200, count: 1000))
    }

    /// The pool's chunks (factoring): they follow one another and cover 0..<count; each round of `threads` chunks
    /// takes 1/(2 · threads) of what is left (the first chunk ⌈count / 2·threads⌉), at least `minimum`; sizes never
    /// grow, and with minimum 1 the last chunk is one item (a thread finishing first waits for at most that).
    func testChunkScheduleShrinksTowardsTheEnd() {
        XCTAssertEqual((0..<ChunkSchedule(count: 1000, threads: 2).chunkCount).map { ChunkSchedule(count: 1000, threads: 2).chunk($0).count },
                       [250, 250, 125, 125, 63, 63, 31, 31, 16, 16, 8, 8, 4, 4, 2, 2, 1, 1])
        for count in 0...300 {
            for threads in 1...4 {
                for minimum in [1, 3, 16] {
                    let schedule = ChunkSchedule(count: count, threads: threads, minimum: minimum)
                    let chunks = (0..<schedule.chunkCount).map(schedule.chunk)
                    let context = "count \(count), \(threads) threads, minimum \(minimum)"
                    var next = 0
                    for chunk in chunks {
                        XCTAssertEqual(chunk.lowerBound, next, context)
                        XCTAssertFalse(chunk.isEmpty, context)
                        next = chunk.upperBound
                    }
                    XCTAssertEqual(next, count, context)
                    XCTAssertEqual(schedule.chunk(schedule.chunkCount), count..<count, context)
                    guard let first = chunks.first, let last = chunks.last else { continue }
                    XCTAssertEqual(first.count, min(count, max(minimum, (count + 2 * threads - 1) / (2 * threads))), context)
                    for (a, b) in zip(chunks, chunks.dropFirst()) { XCTAssertGreaterThanOrEqual(a.count, b.count, context) }
                    for chunk in chunks.dropLast() { XCTAssertGreaterThanOrEqual(chunk.count, minimum, context) }
                    if minimum == 1 { XCTAssertEqual(last.count, 1, context) }
                }
            }
        }
    }

    /// The pool's shares (OwnedChunks): `owners` contiguous shares as equal as can be, in order, covering 0..<count; each
    /// cut by ChunkSchedule with one thread (half of what is left, at least `minimum`), its chunks following one another
    /// within it; every share holds at least `minimum` items when there are owners · minimum of them; chunkCount counts
    /// the chunks of all shares.
    func testOwnedChunksCutEqualSharesThatShrinkTowardsTheirEnds() {
        let two = OwnedChunks(count: 42, owners: 2)
        XCTAssertEqual([two.share(0), two.share(1)], [0..<21, 21..<42])
        XCTAssertEqual((0..<two.schedule(1).chunkCount).map { two.chunk($0, of: 1) }, [21..<32, 32..<37, 37..<40, 40..<41, 41..<42])
        for count in 0...200 {
            for owners in 1...4 {
                for minimum in [1, 3, 16] {
                    let schedule = OwnedChunks(count: count, owners: owners, minimum: minimum)
                    let context = "count \(count), \(owners) owners, minimum \(minimum)"
                    var next = 0, chunks = 0
                    for owner in 0..<owners {
                        let share = schedule.share(owner)
                        XCTAssertEqual(share.lowerBound, next, context)
                        XCTAssertLessThanOrEqual(abs(share.count - count / owners), 1, context)
                        if count >= owners * minimum { XCTAssertGreaterThanOrEqual(share.count, minimum, context) }
                        let cut = (0..<schedule.schedule(owner).chunkCount).map { schedule.chunk($0, of: owner) }
                        chunks += cut.count
                        for chunk in cut {
                            XCTAssertEqual(chunk.lowerBound, next, context)
                            XCTAssertFalse(chunk.isEmpty, context)
                            next = chunk.upperBound
                        }
                        XCTAssertEqual(next, share.upperBound, context)
                        if let first = cut.first { XCTAssertEqual(first.count, min(share.count, max(minimum, (share.count + 1) / 2)), context) }
                        for (a, b) in zip(cut, cut.dropFirst()) { XCTAssertGreaterThanOrEqual(a.count, b.count, context) }
                    }
                    XCTAssertEqual(next, count, context)
                    XCTAssertEqual(schedule.chunkCount, chunks, context)
                }
            }
        }
    }
}
