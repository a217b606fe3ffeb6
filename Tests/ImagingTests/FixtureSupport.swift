// Loading the fixtures written by scripts/fixtures/imaging_fixtures.py.

import Foundation
import Weights
import Imaging
import XCTest

enum Fixtures {
    static var directory: URL {
        get throws {
            guard let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
                throw ImagingError.unreadable(file: "Fixtures", reason: "the test bundle has no Fixtures folder")
            }
            return url
        }
    }

    static func url(_ relativePath: String) throws -> URL {
        try directory.appendingPathComponent(relativePath)
    }

    static func data(_ relativePath: String) throws -> Data {
        try Data(contentsOf: url(relativePath))
    }

    static var manifest: Manifest {
        get throws { try JSONDecoder().decode(Manifest.self, from: data("manifest.json")) }
    }

    static func floats(_ relativePath: String) throws -> [Float] {
        let bytes = try data(relativePath)
        return bytes.withUnsafeBytes { raw in
            (0..<(bytes.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }

    static func rgb(_ relativePath: String, width: Int, height: Int) throws -> RGBImage {
        RGBImage(width: width, height: height, pixels: [UInt8](try data(relativePath)))
    }

    static func geometrySource(_ name: String) throws -> RGBImage {
        guard let source = try manifest.geometrySources[name] else {
            throw ImagingError.unreadable(file: "manifest.json", reason: "no geometry source \(name)")
        }
        return try rgb("geometry/" + source.file, width: source.width, height: source.height)
    }
}

struct Manifest: Decodable {
    struct Decode: Decodable { var file, description, pillowMode, expected, sha256: String; var width, height: Int }
    struct Corrupt: Decodable { var file, error, pillow: String }
    struct Resize: Decodable { var source: String; var crop: [Int]?; var width, height: Int; var expected, sha256: String }
    struct ResizePlanes: Decodable { var source: String; var channels, width, height, toWidth, toHeight: Int; var expected: String }
    struct Source: Decodable { var file: String; var width, height: Int }
    struct Pad: Decodable { var source, mode: String; var fill: [UInt8]?; var expected: String; var width, height: Int }
    struct Dihedral: Decodable { var source, transform, expected: String; var width, height: Int }
    struct Crop: Decodable { var source: String; var x, y: Int; var expected: String; var width, height: Int }
    struct CenterCrop: Decodable { var source, expected: String; var width, height: Int }
    struct Normalize: Decodable { var source: String; var mean, std: [Float]; var expected: String }
    struct Tissue: Decodable { var source: String; var tissueFraction: Double }
    struct Grid: Decodable { var width, height, size, stride: Int; var origins: [[Int]] }

    var version: Int
    var pillow: String
    var decode: [Decode]
    var corrupt: [Corrupt]
    var resize: [Resize]
    var resizePlanes: [ResizePlanes]
    var geometrySources: [String: Source]
    var pad: [Pad]
    var dihedral: [Dihedral]
    var crop: [Crop]
    var centerCrop: [CenterCrop]
    var normalize: [Normalize]
    var tissue: [Tissue]
    var tileOrigins: [Grid]
}

/// Largest per-byte difference between two images of equal size, with where it was.
func maxDifference(_ actual: RGBImage, _ expected: RGBImage) -> (value: Int, x: Int, y: Int, channel: Int) {
    var worst = (value: 0, x: 0, y: 0, channel: 0)
    for i in 0..<min(actual.pixels.count, expected.pixels.count) {
        let d = abs(Int(actual.pixels[i]) - Int(expected.pixels[i]))
        if d > worst.value { worst = (d, (i / 3) % actual.width, i / 3 / actual.width, i % 3) }
    }
    return worst
}

func sha256Hex(_ bytes: [UInt8]) -> String {
    hexString(Weights.SHA256.hash(Data(bytes)))
}
