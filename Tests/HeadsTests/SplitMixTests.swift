import XCTest
import LinearAlgebra

final class SplitMixTests: XCTestCase {
    // Reference values of SplitMix64 seeded with 0 (Vigna's splitmix64.c), as published with the algorithm.
    func testSplitMix64MatchesReferenceSequence() {
        var rng = SplitMix64(seed: 0)
        XCTAssertEqual(rng.next(), 0xE220_A839_7B1D_CDAF)
        XCTAssertEqual(rng.next(), 0x6E78_9E6A_A1B9_65F4)
    }

    func testSelectingRowsKeepsOrder() {
        let m = Matrix(rows: 3, columns: 2, values: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(m.selectingRows([2, 0]).values, [5, 6, 1, 2])
    }
}
