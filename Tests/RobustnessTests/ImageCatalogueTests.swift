// Bad images: each is refused with an `ImagingError` naming the file, or (CMYK JPEG, 16-bit grey
// PNG) accepted and converted exactly as Pillow's `convert("RGB")` does.

import Foundation
import Imaging
import XCTest

final class ImageCatalogueTests: XCTestCase {
    private func image(_ name: String) -> URL { Catalogue.fixture("images/" + name) }

    func testRenamedTextFileIsNotAnImage() {
        let url = image("renamed-text.png")
        let error = refusal { try decodeImage(at: url) }
        guard case .notAnImage? = error as? ImagingError else { return XCTFail("\(String(describing: error))") }
        assertMessage(error, names: url.path, mentions: ["not a PNG or JPEG", "first bytes"])
    }

    func testEmptyPNGIsNotAnImage() {
        let url = image("empty.png")
        let error = refusal { try decodeImage(at: url) }
        guard case .notAnImage? = error as? ImagingError else { return XCTFail("\(String(describing: error))") }
        assertMessage(error, names: url.path, mentions: ["0 bytes"])
    }

    func testGIFRenamedToPNGIsNotAnImage() {
        let url = image("gif-renamed.png")
        let error = refusal { try decodeImage(at: url) }
        guard case .notAnImage? = error as? ImagingError else { return XCTFail("\(String(describing: error))") }
        assertMessage(error, names: url.path, mentions: ["47 49 46 38"])
    }

    func testHundredThousandSquaredPNGIsRefusedBeforeAllocating() {
        let url = image("huge-100000x100000.png")
        let error = refusal { try decodeImage(at: url) }
        XCTAssertEqual(error as? ImagingError, .tooLarge(file: url.path, width: 100_000, height: 100_000, limit: defaultMaxPixels))
        assertMessage(error, names: url.path, mentions: ["100000 x 100000"])
    }

    func testTruncatedPNGIsCorrupt() {
        let url = image("truncated.png")
        let error = refusal { try decodeImage(at: url) }
        guard case .corrupt? = error as? ImagingError else { return XCTFail("\(String(describing: error))") }
        assertMessage(error, names: url.path, mentions: ["corrupt or truncated"])
    }

    func testPNGWithBadCRCIsCorrupt() {
        let url = image("bad-crc.png")
        let error = refusal { try decodeImage(at: url) }
        guard case .corrupt? = error as? ImagingError else { return XCTFail("\(String(describing: error))") }
        assertMessage(error, names: url.path)
    }

    func testTruncatedJPEGIsCorrupt() {
        let url = image("truncated.jpg")
        let error = refusal { try decodeImage(at: url) }
        guard case .corrupt? = error as? ImagingError else { return XCTFail("\(String(describing: error))") }
        assertMessage(error, names: url.path)
    }

    func testMissingFileIsUnreadable() {
        let url = image("no-such-image.png")
        let error = refusal { try decodeImage(at: url) }
        guard case .unreadable? = error as? ImagingError else { return XCTFail("\(String(describing: error))") }
        assertMessage(error, names: url.path)
    }

    func testFolderIsUnreadable() {
        let url = Catalogue.fixture("images")
        let error = refusal { try decodeImage(at: url) }
        XCTAssertNotNil(error as? ImagingError, "\(String(describing: error))")
        assertMessage(error, names: url.path)
    }

    func testCMYKJPEGIsAcceptedLikePillow() throws {
        let decoded = try decodeImage(at: image("cmyk.jpg"))
        let expected = try Data(contentsOf: image("cmyk.jpg.rgb"))
        XCTAssertEqual([decoded.width, decoded.height], [32, 24])
        XCTAssertEqual(decoded.pixels, [UInt8](expected))
    }

    func testSixteenBitGreyPNGIsAcceptedLikePillow() throws {
        let decoded = try decodeImage(at: image("gray16.png"))
        let expected = try Data(contentsOf: image("gray16.png.rgb"))
        XCTAssertEqual([decoded.width, decoded.height], [32, 24])
        XCTAssertEqual(decoded.pixels, [UInt8](expected))
        // Pillow clips I;16 to 0...255 rather than rescaling: 0, 1, 127, 255, then 255 from 256 up.
        XCTAssertEqual(stride(from: 0, to: 24, by: 3).map { decoded.pixels[$0] }, [0, 1, 127, 255, 255, 255, 255, 255])
    }
}
