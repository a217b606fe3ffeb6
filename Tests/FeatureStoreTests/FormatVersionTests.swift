import XCTest
import FeatureStore

final class FormatVersionTests: XCTestCase {
    func testFormatVersionIsPositive() { XCTAssertGreaterThan(featureFormatVersion, 0) }
}
