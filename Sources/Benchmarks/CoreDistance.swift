// How far apart two cores are, as the round trip of one cache line between them: two threads, each pinned to one
// of the cores, hand a flag back and forth. On a 2-vCPU VM the host sometimes runs the two vCPUs on cores that share
// a level-3 cache (a round trip of ~60 ns on AMD Zen 4) and sometimes on cores that do not (~330 ns); in the second
// case reading what the other core wrote runs ~3x slower and every two-thread pass slows, both engines' (BENCHMARKS.md,
// session 19). scripts/bench.sh prints it before each two-thread run, so a table says which runs were measured far apart.

import COpenBLAS
import Dispatch
import Foundation
import Synchronization

public struct CoreDistance: Sendable, Codable {
    public var cores: [Int]
    /// Hand-offs per burst, and how many bursts were timed.
    public var roundTrips: Int
    public var samples: Int
    /// Median over `samples` bursts of the nanoseconds per round trip.
    public var roundTripNanoseconds: Double
}

/// The round trip of a cache line between `first` and `second`: `samples` bursts of `roundTrips` hand-offs, the
/// median burst per round trip. Nil when either core cannot be pinned to (then there is no pair to measure).
public func measureCoreDistance(first: Int = 0, second: Int = 1, roundTrips: Int = 20_000, samples: Int = 9) -> CoreDistance? {
    precondition(roundTrips >= 1 && samples >= 1 && first != second, "measureCoreDistance(\(first), \(second), \(roundTrips), \(samples))")
    // value: 0 the measuring thread's turn, 1 the partner's, -1 tells the partner to stop; during the hand-offs it is
    // the only field either thread writes (partnerPinned is written before them, result after).
    final class Flag: Sendable {
        let value = Atomic<Int>(0)
        let partnerPinned = Atomic<Int>(-1)
        /// The median burst's nanoseconds per round trip as bits (0: none measured).
        let result = Atomic<UInt64>(0)
    }
    let flag = Flag()
    let partner = Thread {
        flag.partnerPinned.store(carcinoma_pin_calling_thread(Int32(second)) == 0 ? 1 : 0, ordering: .releasing)
        while true {
            let seen = flag.value.load(ordering: .acquiring)
            if seen == -1 { return }
            if seen == 1 { flag.value.store(0, ordering: .releasing) }
        }
    }
    partner.start()
    while flag.partnerPinned.load(ordering: .acquiring) == -1 {}
    // The measuring thread runs on its own Thread too, so that the caller's affinity is left as it was.
    let done = DispatchSemaphore(value: 0)
    let measurer = Thread {
        defer { done.signal() }
        guard flag.partnerPinned.load(ordering: .acquiring) == 1, carcinoma_pin_calling_thread(Int32(first)) == 0 else { return }
        var bursts: [Double] = []
        for _ in 0..<(samples + 1) {   // the first burst warms up and is dropped
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<roundTrips {
                flag.value.store(1, ordering: .releasing)
                while flag.value.load(ordering: .acquiring) != 0 {}
            }
            bursts.append(Double(DispatchTime.now().uptimeNanoseconds - start) / Double(roundTrips))
        }
        flag.result.store(medianOf(Array(bursts.dropFirst())).bitPattern, ordering: .releasing)
    }
    measurer.start()
    done.wait()
    flag.value.store(-1, ordering: .releasing)
    let bits = flag.result.load(ordering: .acquiring)
    guard bits != 0 else { return nil }
    let nanoseconds = Double(bitPattern: bits)
    return CoreDistance(cores: [first, second], roundTrips: roundTrips, samples: samples, roundTripNanoseconds: nanoseconds)
}
