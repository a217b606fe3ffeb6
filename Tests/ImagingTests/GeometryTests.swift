// Pad, crop, centre crop and D4 against numpy / Pillow / torchvision outputs from the generator.

import Foundation
import Imaging
import TestSupport
import XCTest

final class GeometryTests: XCTestCase {
    private func assertSame(_ actual: RGBImage, _ expected: RGBImage, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.width, expected.width, "\(label): width", file: file, line: line)
        XCTAssertEqual(actual.height, expected.height, "\(label): height", file: file, line: line)
        guard actual.width == expected.width && actual.height == expected.height else { return }
        let worst = maxDifference(actual, expected)
        XCTAssertEqual(worst.value, 0, "\(label): max difference \(worst.value) at x \(worst.x) y \(worst.y)", file: file, line: line)
    }

    func testPadToSquareMatchesNumpyPad() throws {
        let manifest = try Fixtures.manifest
        XCTAssertEqual(manifest.pad.count, 9)
        for item in manifest.pad {
            let source = try Fixtures.geometrySource(item.source)
            let mode: PadMode
            if let fill = item.fill { mode = .constant(fill[0], fill[1], fill[2]) } else { mode = .reflect }
            let expected = try Fixtures.rgb("geometry/" + item.expected, width: item.width, height: item.height)
            assertSame(padToSquare(source, mode: mode), expected, item.expected)
        }
    }

    func testDihedralTransformsMatchNumpy() throws {
        let manifest = try Fixtures.manifest
        XCTAssertEqual(manifest.dihedral.count, DihedralTransform.allCases.count)
        let names: [String: DihedralTransform] = [
            "identity": .identity, "rotate90": .rotate90, "rotate180": .rotate180, "rotate270": .rotate270,
            "flipHorizontal": .flipHorizontal, "flipVertical": .flipVertical, "transpose": .transpose, "transverse": .transverse,
        ]
        for item in manifest.dihedral {
            let t = try XCTUnwrap(names[item.transform], item.transform)
            let source = try Fixtures.geometrySource(item.source)
            let expected = try Fixtures.rgb("geometry/" + item.expected, width: item.width, height: item.height)
            let actual = transform(source, t)
            assertSame(actual, expected, item.transform)
            XCTAssertEqual(transform(actual, t.inverse), source, "\(item.transform) inverse")
        }
    }

    func testDihedralGroupIsClosedAndDistinct() throws {
        let source = try Fixtures.geometrySource("small")
        let images = DihedralTransform.allCases.map { transform(source, $0) }
        XCTAssertEqual(Set(images.map(\.pixels)).count, 8, "the eight transforms of a generic image differ")
        XCTAssertEqual(transform(transform(source, .rotate90), .rotate90), transform(source, .rotate180))
        XCTAssertEqual(transform(transform(source, .flipHorizontal), .rotate90), transform(source, .transpose))
    }

    func testCropMatchesPillowIncludingOutside() throws {
        let manifest = try Fixtures.manifest
        for item in manifest.crop {
            let source = try Fixtures.geometrySource(item.source)
            let expected = try Fixtures.rgb("geometry/" + item.expected, width: item.width, height: item.height)
            assertSame(crop(source, x: item.x, y: item.y, width: item.width, height: item.height), expected, item.expected)
        }
    }

    func testCenterCropMatchesTorchvision() throws {
        let manifest = try Fixtures.manifest
        for item in manifest.centerCrop {
            let source = try Fixtures.geometrySource(item.source)
            let expected = try Fixtures.rgb("geometry/" + item.expected, width: item.width, height: item.height)
            assertSame(centerCrop(source, width: item.width, height: item.height), expected, item.expected)
        }
    }

    func testNormalizedPlanesMatchTorchvisionBitForBit() throws {
        let manifest = try Fixtures.manifest
        XCTAssertEqual(manifest.normalize.count, 2)
        for item in manifest.normalize {
            let source = try Fixtures.geometrySource(item.source)
            let expected = try Fixtures.floats("geometry/" + item.expected)
            let actual = normalizedPlanes(source, mean: item.mean, std: item.std)
            XCTAssertEqual(actual.count, 3 * source.width * source.height)
            let comparison = compare(actual, expected)
            XCTAssertEqual(comparison.maxAbsoluteDifference, 0, "\(item.expected): \(comparison)")
        }
    }
}

final class TileTests: XCTestCase {
    func testTileOriginsMatchTheGenerator() throws {
        for grid in try Fixtures.manifest.tileOrigins {
            let origins = tileOrigins(width: grid.width, height: grid.height, size: grid.size, stride: grid.stride)
            XCTAssertEqual(origins.map { [$0.x, $0.y] }, grid.origins, "\(grid.width)x\(grid.height) size \(grid.size) stride \(grid.stride)")
        }
    }

    func testTilesCoverTheImageAndSmallImagesArePaddedWhite() throws {
        let image = try decodeImage(at: Fixtures.url("real/tumor_1.png"))   // 150 x 150
        let grid = TileGrid(size: 64, stride: 48)
        let pieces = tiles(image, grid: grid)
        let origins = grid.origins(width: 150, height: 150)
        XCTAssertEqual(pieces.count, origins.count)
        // Every pixel lies in some tile, and each tile is the crop at its origin.
        var covered = [Bool](repeating: false, count: 150 * 150)
        for (piece, origin) in zip(pieces, origins) {
            XCTAssertEqual(piece, crop(image, x: origin.x, y: origin.y, width: 64, height: 64))
            for y in origin.y..<(origin.y + 64) { for x in origin.x..<(origin.x + 64) { covered[y * 150 + x] = true } }
        }
        XCTAssertTrue(covered.allSatisfy { $0 })
        // Smaller than the tile: one tile, the image centred on white.
        let big = tiles(image, grid: TileGrid(size: 224, stride: 112))
        XCTAssertEqual(big.count, 1)
        XCTAssertEqual(big[0], pad(image, toWidth: 224, toHeight: 224, mode: .constant(255, 255, 255)))
        XCTAssertEqual(crop(big[0], x: 37, y: 37, width: 150, height: 150), image)
        XCTAssertEqual(Array(big[0].pixels[0..<3]), [255, 255, 255])
    }

    func testTissueFractionMatchesTheNumpyTwin() throws {
        for item in try Fixtures.manifest.tissue {
            let image = try decodeImage(at: Fixtures.url(item.source))
            XCTAssertEqual(tissueFraction(image), item.tissueFraction, accuracy: 1e-12, item.source)
        }
    }

    func testTissueFractionOfSyntheticImages() {
        let white = RGBImage(width: 4, height: 2, pixels: [UInt8](repeating: 242, count: 24))
        XCTAssertEqual(tissueFraction(white), 0)
        var half = white
        for i in 0..<4 { half.pixels[3 * i] = 200; half.pixels[3 * i + 1] = 120; half.pixels[3 * i + 2] = 180 }  // eosin pink
        XCTAssertEqual(tissueFraction(half), 0.5)
    }
}
