import XCTest
import Backbones

final class ExtractionSmokeTests: XCTestCase {
    func testImageNetStatisticsAreTorchvisions() {
        XCTAssertEqual(Preprocessing.imageNet.mean, [0.485, 0.456, 0.406])
    }
}
