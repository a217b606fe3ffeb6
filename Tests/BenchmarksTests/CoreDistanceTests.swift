// `carcinoma bench cores` (Benchmarks/CoreDistance.swift): the round trip of a cache line between two pinned threads.

import Benchmarks
import Foundation
import XCTest

final class CoreDistanceTests: XCTestCase {
    func testTwoCoresGiveAPlausibleRoundTrip() throws {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        try XCTSkipIf(cores < 2, "skipped: one core, no pair to measure")
        let distance = try XCTUnwrap(measureCoreDistance(first: 0, second: 1, roundTrips: 2_000, samples: 3),
                                     "cores 0 and 1 could not be pinned to")
        XCTAssertEqual(distance.cores, [0, 1])
        XCTAssertEqual(distance.roundTrips, 2_000)
        XCTAssertEqual(distance.samples, 3)
        // A hand-off through a shared cache line takes tens to hundreds of nanoseconds; below 5 ns the threads did
        // not wait for each other, above 100 µs each hand-off waited for a scheduler (the threads were not both running).
        XCTAssertGreaterThan(distance.roundTripNanoseconds, 5)
        XCTAssertLessThan(distance.roundTripNanoseconds, 100_000)
    }

    func testACoreTheMachineLacksGivesNilNotAHang() {
        // The partner cannot be pinned to core 4096 (beyond the affinity mask): nil, and the call returns.
        XCTAssertNil(measureCoreDistance(first: 0, second: 4096, roundTrips: 10, samples: 1))
        XCTAssertNil(measureCoreDistance(first: 4096, second: 0, roundTrips: 10, samples: 1))
    }
}
