// Resize against Pillow's Image.resize(..., BILINEAR): real tiles and noise, down and up,
// odd and non-square sizes. The implementation transcribes Pillow's fixed-point arithmetic,
// so the test demands identical bytes and prints the largest difference when not.

import Foundation
import Imaging
import TestSupport
import XCTest

final class ResizeTests: XCTestCase {
    func testResizeMatchesPillowOnEveryPixel() throws {
        let manifest = try Fixtures.manifest
        XCTAssertGreaterThanOrEqual(manifest.resize.count, 15)
        var overall = 0
        for item in manifest.resize {
            var source = try decodeImage(at: Fixtures.url(item.source))
            if let box = item.crop { source = crop(source, x: box[0], y: box[1], width: box[2], height: box[3]) }
            let expected = try decodeImage(at: Fixtures.url("resize/" + item.expected))
            XCTAssertEqual(sha256Hex(expected.pixels), item.sha256, "fixture \(item.expected) damaged")
            let actual = resize(source, width: item.width, height: item.height)
            XCTAssertEqual(actual.width, item.width)
            XCTAssertEqual(actual.height, item.height)
            let worst = maxDifference(actual, expected)
            overall = max(overall, worst.value)
            XCTAssertEqual(worst.value, 0, "\(item.expected): \(source.width)x\(source.height) → \(item.width)x\(item.height), "
                + "max difference \(worst.value) at x \(worst.x) y \(worst.y) channel \(worst.channel)")
        }
        print("resize vs Pillow: max grey-level difference \(overall) over \(manifest.resize.count) cases")
    }

    func testFloatPlanesMatchPillowModeF() throws {
        let manifest = try Fixtures.manifest
        XCTAssertGreaterThanOrEqual(manifest.resizePlanes.count, 4)
        for item in manifest.resizePlanes {
            let planes = try Fixtures.floats(item.source)
            let expected = try Fixtures.floats("resize/" + item.expected)
            let actual = resize(planes: planes, channels: item.channels, width: item.width, height: item.height,
                                toWidth: item.toWidth, toHeight: item.toHeight)
            XCTAssertEqual(actual.count, expected.count)
            let comparison = compare(actual, expected)
            XCTAssertEqual(comparison.maxAbsoluteDifference, 0, "\(item.expected): \(comparison)")
        }
    }

    func testSameSizeIsIdentity() throws {
        let image = try decodeImage(at: Fixtures.url("real/stroma_2.png"))
        XCTAssertEqual(resize(image, width: 150, height: 150), image)
    }
}
