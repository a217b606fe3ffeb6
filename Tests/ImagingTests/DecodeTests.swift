// Decoding against Pillow: every PNG / JPEG variant of the fixtures must give the bytes Pillow
// gives (see the conversion table in Sources/Imaging/Decode.swift), and bad files must throw
// an ImagingError naming the file.

import Foundation
import Imaging
import TestSupport
import XCTest

final class DecodeTests: XCTestCase {
    func testSHA256MatchesKnownVector() {
        // FIPS 180-2 example "abc".
        XCTAssertEqual(sha256Hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    func testEveryVariantDecodesLikePillow() throws {
        let manifest = try Fixtures.manifest
        XCTAssertGreaterThanOrEqual(manifest.decode.count, 20)
        for item in manifest.decode {
            let image = try decodeImage(at: Fixtures.url("decode/" + item.file))
            XCTAssertEqual(image.width, item.width, item.file)
            XCTAssertEqual(image.height, item.height, item.file)
            let expected = try Fixtures.rgb("decode/" + item.expected, width: item.width, height: item.height)
            XCTAssertEqual(sha256Hex(expected.pixels), item.sha256, "fixture \(item.expected) damaged")
            let worst = maxDifference(image, expected)
            XCTAssertEqual(worst.value, 0, "\(item.file) (\(item.description), Pillow mode \(item.pillowMode)): "
                + "max difference \(worst.value) at x \(worst.x) y \(worst.y) channel \(worst.channel)")
        }
    }

    func testRealImagesDecodeAndFormatComesFromBytes() throws {
        let image = try decodeImage(at: Fixtures.url("real/tumor_1.png"))
        XCTAssertEqual(image.width, 150)
        XCTAssertEqual(image.height, 150)
        // A JPEG named .png is still a JPEG: the magic bytes decide.
        let jpeg = try Fixtures.data("decode/rgb420.jpg")
        XCTAssertEqual(detectFormat(jpeg), .jpeg)
        XCTAssertEqual(try decodeImage(data: jpeg, name: "misnamed.png"), try decodeImage(at: Fixtures.url("decode/rgb420.jpg")))
    }

    func testBadFilesThrowNamingTheFileAndProblem() throws {
        let manifest = try Fixtures.manifest
        XCTAssertGreaterThanOrEqual(manifest.corrupt.count, 9)
        for item in manifest.corrupt {
            let url = try Fixtures.url("corrupt/" + item.file)
            XCTAssertThrowsError(try decodeImage(at: url), item.file) { error in
                guard let error = error as? ImagingError else { return XCTFail("\(item.file): \(error) is not an ImagingError") }
                let message = error.localizedDescription
                XCTAssertTrue(message.contains(url.path), "\(item.file): message does not name the file: \(message)")
                switch (item.error, error) {
                case ("corrupt", .corrupt), ("notAnImage", .notAnImage), ("tooLarge", .tooLarge): break
                default: XCTFail("\(item.file): expected a \(item.error) error, got \(message)")
                }
            }
        }
    }

    func testTruncationIsSaidAsSuch() throws {
        for file in ["truncated.png", "truncated.jpg"] {
            XCTAssertThrowsError(try decodeImage(at: Fixtures.url("corrupt/" + file))) { error in
                XCTAssertTrue(error.localizedDescription.contains("truncated"), error.localizedDescription)
            }
        }
    }

    func testPixelLimitRefusesBeforeDecoding() throws {
        XCTAssertThrowsError(try decodeImage(at: Fixtures.url("corrupt/huge.png"))) { error in
            XCTAssertEqual(error as? ImagingError, .tooLarge(file: (try? Fixtures.url("corrupt/huge.png").path) ?? "",
                                                          width: 100_000, height: 100_000, limit: defaultMaxPixels))
        }
        // The same limit applies to a valid small image when the caller lowers it.
        let url = try Fixtures.url("real/tumor_1.png")
        XCTAssertThrowsError(try decodeImage(at: url, maxPixels: 150 * 150 - 1))
        XCTAssertNoThrow(try decodeImage(at: url, maxPixels: 150 * 150))
        XCTAssertThrowsError(try decodeImage(at: Fixtures.url("decode/rgb420.jpg"), maxPixels: 100)) { error in
            guard case .tooLarge(_, 47, 35, 100)? = error as? ImagingError else { return XCTFail("\(error)") }
        }
    }

    func testMissingFileAndEveryTruncationLengthNeverCrash() throws {
        XCTAssertThrowsError(try decodeImage(at: URL(fileURLWithPath: "/nonexistent/image.png"))) { error in
            guard case .unreadable(let file, _)? = error as? ImagingError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, "/nonexistent/image.png")
        }
        // Every prefix of a PNG and a JPEG throws, except a PNG cut inside its final 12-byte IEND
        // chunk: its pixels are complete, and Pillow loads it too; it must then equal the whole file.
        for file in ["decode/rgba16-interlaced.png", "decode/progressive.jpg", "decode/rgb8.png", "decode/gray.jpg"] {
            let data = try Fixtures.data(file)
            let whole = try decodeImage(data: data, name: file)
            let pixelsEnd = file.hasSuffix(".png") ? data.count - 12 : data.count
            for length in 0..<data.count {
                do {
                    let image = try decodeImage(data: data.prefix(length), name: file)
                    XCTAssertGreaterThanOrEqual(length, pixelsEnd, "\(file): the first \(length) of \(data.count) bytes decoded without error")
                    XCTAssertEqual(image, whole, file)
                } catch {
                    XCTAssertTrue(error is ImagingError, "\(file) cut at \(length): \(error)")
                }
            }
        }
    }
}

final class ImageSizeTests: XCTestCase {
    func testHeaderSizeEqualsDecodedSizeForEveryVariant() throws {
        for item in try Fixtures.manifest.decode {
            let size = try readImageSize(at: Fixtures.url("decode/" + item.file))
            XCTAssertEqual(size.width, item.width, item.file)
            XCTAssertEqual(size.height, item.height, item.file)
        }
    }

    func testHeaderSizeOfAbsurdAndBadFiles() throws {
        let png = try readImageSize(at: Fixtures.url("corrupt/huge.png"))
        XCTAssertEqual(png.width, 100_000)
        XCTAssertEqual(png.height, 100_000)
        let jpeg = try readImageSize(at: Fixtures.url("corrupt/huge.jpg"))
        XCTAssertEqual(jpeg.width, 60_000)
        XCTAssertEqual(jpeg.height, 60_000)
        for file in ["empty.png", "text.png", "signature-only.png"] {
            XCTAssertThrowsError(try readImageSize(at: Fixtures.url("corrupt/" + file)), file) { error in
                XCTAssertTrue(error.localizedDescription.contains(file), error.localizedDescription)
            }
        }
        let jpegStart = try Fixtures.data("decode/rgb420.jpg").prefix(4)
        XCTAssertThrowsError(try readImageSize(data: jpegStart, name: "cut.jpg"))
    }
}
