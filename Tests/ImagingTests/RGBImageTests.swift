import XCTest
import Imaging

final class RGBImageTests: XCTestCase {
    func testImageHoldsInterleavedRows() {
        let image = RGBImage(width: 2, height: 1, pixels: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(image.pixels[3...5], [4, 5, 6])
    }
}
