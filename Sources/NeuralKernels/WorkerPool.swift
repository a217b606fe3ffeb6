// Persistent worker threads that wait for the next piece of work by spinning, briefly, before they sleep.
//
// A forward pass at batch 1 runs a few hundred parallel regions of 50 µs – 2 ms each (one per convolution,
// pooling or elementwise layer). Handing each to DispatchQueue.concurrentPerform wakes a sleeping thread per
// region; in a virtual machine a sleeping vCPU is halted, and waking it goes through the hypervisor: tens of
// microseconds per region, and the second core idles for much of a small layer. ONNX Runtime's and OpenMP's
// pools avoid this the same way (their workers poll for the next region for a while before they block).
//
// One job at a time: `run` publishes a job (OwnedChunks and the caller's body, which it does not copy), the caller
// and workers 1 ..< owners each take the chunks of their own share by its atomic ticket, then those left in the
// others' shares, and `run` returns once every chunk has finished. A share's chunks are fixed by the schedule
// (shrinking towards the share's end, Parallel.swift), whichever thread takes them; the kernels' items are
// independent, so the results depend neither on the chunks nor on the scheduling. A worker that finds no job for
// `spinNanoseconds` sleeps on a condition variable until the next one is published. A job asked for while another
// runs (a body that itself calls parallelChunks, or two threads using the kernels at once), or for more threads than
// the pool has, is not taken: the caller falls back to DispatchQueue.concurrentPerform.

import COpenBLAS
import Foundation
import Synchronization

final class WorkerPool: @unchecked Sendable {
    /// The process's pool: one worker per core beside the calling thread.
    static let shared = WorkerPool(workers: max(0, ProcessInfo.processInfo.activeProcessorCount - 1))

    /// How long an idle worker polls for the next job before it sleeps (a pass's serial stretches between
    /// layers are a few microseconds; image decoding between passes is milliseconds).
    static let spinNanoseconds: UInt64 = 300_000

    /// One parallel region: the chunks of `schedule`, the body reached through a pointer to the caller's
    /// closure (valid until every chunk has finished; a worker that arrives later finds no ticket left).
    final class Job: @unchecked Sendable {
        let schedule: OwnedChunks
        let body: UnsafeRawPointer
        /// The next ticket of each share, share k's at tickets[k · ticketStride]: a cache line each, so that an owner
        /// taking its own chunks does not take the line from the thread that owns the next share.
        let tickets: UnsafeMutablePointer<Atomic<Int>>
        static let ticketStride = 64 / MemoryLayout<Atomic<Int>>.stride
        let finished = Atomic<Int>(0)
        /// When the caller published the job (DispatchTime's nanoseconds), for the hand-off time (`coresApart`).
        let published = DispatchTime.now().uptimeNanoseconds

        init(schedule: OwnedChunks, body: UnsafeRawPointer) {
            self.schedule = schedule
            self.body = body
            let count = schedule.owners * Job.ticketStride
            tickets = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Atomic<Int>>.stride, alignment: 64)
                .bindMemory(to: Atomic<Int>.self, capacity: count)
            for index in 0..<count { (tickets + index).initialize(to: Atomic<Int>(0)) }
        }

        deinit {
            tickets.deinitialize(count: schedule.owners * Job.ticketStride)
            tickets.deallocate()
        }

        /// Takes and runs chunks until none is left: those of share `owner` first, then the others' in turn.
        func runChunks(owner: Int) {
            for step in 0..<schedule.owners {
                let share = (owner + step) % schedule.owners
                let chunks = schedule.schedule(share).chunkCount
                while true {
                    let ticket = tickets[share * Job.ticketStride].wrappingAdd(1, ordering: .relaxed).oldValue
                    if ticket >= chunks { break }
                    Job.invoke(body, chunk: schedule.chunk(ticket, of: share))
                    finished.wrappingAdd(1, ordering: .releasing)
                }
            }
        }

        /// Calls the body on one chunk (never empty: the shares' chunks below their chunkCount each hold an item);
        /// not inlined, so the closure is released before the chunk counts as finished.
        @inline(never)
        static func invoke(_ body: UnsafeRawPointer, chunk: Range<Int>) {
            body.assumingMemoryBound(to: ((Range<Int>) -> Void).self).pointee(chunk)
        }
    }

    let workerCount: Int
    /// A moving average (weight 1/16) of the nanoseconds from a job's publication to a worker's start, each capped at
    /// 1.5 µs, over the jobs a polling worker picked up (a sleeping worker's wake-up, ≥ 50 µs, is left out).
    private let handOff = Atomic<Int>(0)
    private let generation = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let current = Mutex<Job?>(nil)
    private let wakeUp = NSCondition()
    private let started = Atomic<Bool>(false)
    private let startLock = NSLock()
    /// The workers' pthreads (a thread's name is not a reliable mark: Foundation may rename it).
    private let workerThreads = Mutex<[pthread_t]>([])

    init(workers: Int) {
        workerCount = workers
    }

    /// Runs body over the chunks of `schedule` on the caller (share 0) and workers 1 ..< schedule.owners (share k on
    /// worker k); false (nothing run) when the pool is busy or has fewer workers.
    func run(_ schedule: OwnedChunks, _ body: (Range<Int>) -> Void) -> Bool {
        let chunks = schedule.chunkCount, threads = schedule.owners
        guard chunks >= 2, threads >= 2, threads - 1 <= workerCount,
              busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { busy.store(false, ordering: .releasing) }
        startWorkersOnce()
        withoutActuallyEscaping(body) { escapable in
            var closure = escapable
            withUnsafePointer(to: &closure) { pointer in
                let job = Job(schedule: schedule, body: UnsafeRawPointer(pointer))
                current.withLock { $0 = job }
                generation.wrappingAdd(1, ordering: .sequentiallyConsistent)
                if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                    wakeUp.lock()
                    wakeUp.broadcast()
                    wakeUp.unlock()
                }
                job.runChunks(owner: 0)
                while job.finished.load(ordering: .acquiring) < chunks { carcinoma_spin_pause() }
                current.withLock { $0 = nil }
            }
        }
        return true
    }

    private func startWorkersOnce() {
        if started.load(ordering: .acquiring) { return }
        startLock.lock()
        defer { startLock.unlock() }
        if started.load(ordering: .relaxed) { return }
        for index in 0..<workerCount {
            let thread = Thread { [unowned self] in
                Thread.current.name = "carcinoma-pool\(index + 1)"   // for debuggers; from inside, ≤ 15 bytes (Linux)
                self.workerThreads.withLock { $0.append(pthread_self()) }
                self.workerLoop(owner: index + 1)
            }
            thread.start()
        }
        started.store(true, ordering: .releasing)
    }

    /// Whether the host runs the pool's threads on cores that share no level-3 cache just now: a job's hand-off to a
    /// worker has lately taken more than 500 ns on average. A cache line's round trip between two vCPUs is ~60–100 ns
    /// when they share one and ~300–360 ns when the host placed them apart, for seconds to minutes at a time
    /// (BENCHMARKS.md, session 19); the hand-off (the new generation, the job, its tickets) then took 731–737 ns at the
    /// median against 240–306, the average 741–778 against 228–389 also on a busy host (AMD Zen 4, Lite0 224, session
    /// 21). Layers that can keep their data on one thread choose to when this holds (`ExpansionBanding.automaticRows`);
    /// results never depend on it. (With more than one worker, each updates the average in turn.)
    var coresApart: Bool { handOff.load(ordering: .relaxed) > 500 }

    /// Whether the calling thread is one of the pool's workers.
    var onWorkerThread: Bool {
        let me = pthread_self()
        return workerThreads.withLock { $0.contains { pthread_equal($0, me) != 0 } }
    }

    /// Worker `owner - 1`'s loop: it runs share `owner` of the jobs that have one (and helps with the others).
    private func workerLoop(owner: Int) {
        var seen = generation.load(ordering: .acquiring)
        while true {
            var now = generation.load(ordering: .acquiring)
            var spins = 0
            var spinStart: UInt64 = 0
            while now == seen {
                spins += 1
                if spins & 255 == 0 {
                    let clock = DispatchTime.now().uptimeNanoseconds
                    if spinStart == 0 {
                        spinStart = clock
                    } else if clock - spinStart > WorkerPool.spinNanoseconds {
                        now = sleep(until: seen)
                        break
                    }
                }
                carcinoma_spin_pause()
                now = generation.load(ordering: .acquiring)
            }
            seen = now
            if let job = current.withLock({ $0 }), owner < job.schedule.owners {
                let lag = Int(clamping: DispatchTime.now().uptimeNanoseconds &- job.published)
                if lag < 50_000 {   // at most 1.5 µs a job, so that one slow hand-off on a busy host moves it little
                    let average = handOff.load(ordering: .relaxed)
                    handOff.store(average + (min(lag, 1500) - average) / 16, ordering: .relaxed)
                }
                job.runChunks(owner: owner)
            }
        }
    }

    /// Blocks until the generation moves past `seen`; returns the new generation.
    private func sleep(until seen: Int) -> Int {
        wakeUp.lock()
        defer { wakeUp.unlock() }
        sleepers.wrappingAdd(1, ordering: .sequentiallyConsistent)
        var now = generation.load(ordering: .sequentiallyConsistent)
        while now == seen {
            wakeUp.wait()
            now = generation.load(ordering: .sequentiallyConsistent)
        }
        sleepers.wrappingSubtract(1, ordering: .sequentiallyConsistent)
        return now
    }
}

/// Whether the calling thread is one of the kernel pool's workers (for the tests).
public var onKernelPoolWorker: Bool { WorkerPool.shared.onWorkerThread }
