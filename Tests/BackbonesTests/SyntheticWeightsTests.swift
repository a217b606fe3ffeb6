import XCTest
import Backbones

final class SyntheticWeightsTests: XCTestCase {
    func testSeedIsFNV1a() {
        // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c (the published test vector).
        XCTAssertEqual(SyntheticWeights.seed(of: "a"), 0xaf63_dc4c_8601_ec8c)
    }

    func testValuesFollowTheSpecRanges() {
        let conv = SyntheticWeights.values(name: "conv1.weight", shape: [64, 3, 7, 7])
        let bound = Float((3.0 / 147.0).squareRoot())
        XCTAssertTrue(conv.allSatisfy { abs($0) <= bound })
        XCTAssertTrue(SyntheticWeights.values(name: "bn1.running_var", shape: [64]).allSatisfy { $0 >= 0.5 && $0 < 1.5 })
        XCTAssertNotEqual(conv, SyntheticWeights.values(name: "conv2.weight", shape: [64, 3, 7, 7]))
    }
}
