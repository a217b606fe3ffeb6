// A minimal PNG writer for tests that need image files on disk: 8-bit RGB, filter 0,
// zlib "stored" (uncompressed) deflate blocks. Readable by libpng and Pillow.

import Foundation

/// Writes `pixels` (height x width x 3 bytes, row-major RGB) as a PNG file.
public func writeTestPNG(width: Int, height: Int, pixels: [UInt8], to url: URL) throws {
    precondition(pixels.count == width * height * 3, "RGB pixels for \(width)x\(height)")
    var raw = [UInt8]()
    raw.reserveCapacity(height * (1 + 3 * width))
    for y in 0..<height {
        raw.append(0) // filter type None
        raw += pixels[(y * width * 3)..<((y + 1) * width * 3)]
    }
    var zlib: [UInt8] = [0x78, 0x01]
    var offset = 0
    repeat {
        let length = min(65535, raw.count - offset)
        let final: UInt8 = offset + length == raw.count ? 1 : 0
        zlib += [final, UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8((~length >> 8) & 0xFF)]
        zlib += raw[offset..<(offset + length)]
        offset += length
    } while offset < raw.count
    var a: UInt32 = 1, b: UInt32 = 0
    for byte in raw { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
    zlib += bigEndian((b << 16) | a)

    var file: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    func chunk(_ type: String, _ data: [UInt8]) {
        let body = Array(type.utf8) + data
        file += bigEndian(UInt32(data.count)) + body + bigEndian(crc32(body))
    }
    chunk("IHDR", bigEndian(UInt32(width)) + bigEndian(UInt32(height)) + [8, 2, 0, 0, 0])
    chunk("IDAT", zlib)
    chunk("IEND", [])
    try Data(file).write(to: url)
}

private func bigEndian(_ value: UInt32) -> [UInt8] {
    [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
}

private func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = (crc >> 1) ^ (0xEDB8_8320 & (0 &- (crc & 1))) }
    }
    return ~crc
}

/// Deterministic test pixels: a smooth pattern that differs per `seed`.
public func testPixels(width: Int, height: Int, seed: Int) -> [UInt8] {
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    for y in 0..<height {
        for x in 0..<width {
            for c in 0..<3 {
                let value = (x * (3 + c + seed) + y * (5 + 2 * c) + 37 * seed + 11 * (x * y % 7)) % 256
                pixels[(y * width + x) * 3 + c] = UInt8(value)
            }
        }
    }
    return pixels
}
