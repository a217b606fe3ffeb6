// All 186 OxML competition images (../shared/data/oxml, never copied into the project):
// decoded bytes and the 224 x 224 bilinear resize must hash to what Pillow gives
// (oxml-checksums.json from the fixture generator). Skips when the data is absent.

import Foundation
import Imaging
import TestSupport
import XCTest

final class OxMLTests: XCTestCase {
    struct Checksums: Decodable {
        struct Row: Decodable { var width, height: Int; var decodedSHA256, resized224SHA256: String }
        var images: [String: Row]
    }

    func testAllOxMLImagesDecodeAndResizeLikePillow() throws {
        guard let shared = sharedDirectory() else { throw XCTSkip("../shared is absent: OxML images not available") }
        let folder = shared.appendingPathComponent("data/oxml")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder.path))?.filter { $0.hasSuffix(".png") }.sorted() ?? []
        guard !files.isEmpty else { throw XCTSkip("no PNG in \(folder.path)") }
        let checksums = try JSONDecoder().decode(Checksums.self, from: Fixtures.data("oxml-checksums.json"))
        XCTAssertEqual(files.count, 186)
        var decodedMatches = 0, resizedMatches = 0
        var decodeSeconds = 0.0, resizeSeconds = 0.0   // printed for information, never asserted
        for name in files {
            let url = folder.appendingPathComponent(name)
            var start = Date()
            let image = try decodeImage(at: url)
            decodeSeconds += Date().timeIntervalSince(start)
            guard let row = checksums.images[name] else { XCTFail("\(name) has no checksum"); continue }
            XCTAssertEqual(image.width, row.width, name)
            XCTAssertEqual(image.height, row.height, name)
            let header = try readImageSize(at: url)
            XCTAssertEqual([header.width, header.height], [row.width, row.height], name)
            if sha256Hex(image.pixels) == row.decodedSHA256 { decodedMatches += 1 } else { XCTFail("\(name): decoded bytes differ from Pillow") }
            start = Date()
            let resized = resize(image, width: 224, height: 224)
            resizeSeconds += Date().timeIntervalSince(start)
            if sha256Hex(resized.pixels) == row.resized224SHA256 { resizedMatches += 1 } else { XCTFail("\(name): 224x224 resize differs from Pillow") }
        }
        print("OxML: \(decodedMatches)/\(files.count) decoded and \(resizedMatches)/\(files.count) resized identical to Pillow; "
            + String(format: "decode %.2f s, resize to 224x224 %.2f s in total", decodeSeconds, resizeSeconds))
    }
}
