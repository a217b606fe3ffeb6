// Width and height from the file header alone, without decoding: lets a caller group images
// of equal size into batches, or check them against a pixel limit, before reading pixels.
// The full decoders check the same header again, so a file that lies here still fails there.

import Foundation

/// The pixel size announced by a PNG's IHDR chunk or a JPEG's SOFn frame header.
public func readImageSize(at url: URL) throws -> (width: Int, height: Int) {
    let data: Data
    do {
        data = try Data(contentsOf: url, options: .alwaysMapped)   // only the header pages are touched
    } catch {
        throw ImagingError.unreadable(file: url.path, reason: error.localizedDescription)
    }
    return try readImageSize(data: data, name: url.path)
}

public func readImageSize(data: Data, name: String) throws -> (width: Int, height: Int) {
    guard !data.isEmpty else { throw ImagingError.notAnImage(file: name, reason: "the file is empty (0 bytes)") }
    let bytes = [UInt8](data.prefix(1 << 20))
    func bigEndian(_ offset: Int, _ count: Int) -> Int {
        (offset..<(offset + count)).reduce(0) { $0 << 8 | Int(bytes[$1]) }
    }
    switch detectFormat(data) {
    case .png:
        // Signature (8), IHDR length (4) and type (4), then width and height, 4 bytes each.
        guard bytes.count >= 24, bytes[12..<16].elementsEqual(Array("IHDR".utf8)) else {
            throw ImagingError.corrupt(file: name, reason: "PNG without an IHDR chunk")
        }
        return (bigEndian(16, 4), bigEndian(20, 4))
    case .jpeg:
        // Walk the marker segments up to the frame header: FF Cn (n ≠ 4, 8, C), then length (2),
        // precision (1), height (2), width (2).
        var offset = 2
        while offset + 4 <= bytes.count {
            guard bytes[offset] == 0xFF else { break }
            let marker = bytes[offset + 1]
            if marker == 0xFF { offset += 1; continue }                         // fill byte
            if marker == 0x01 || (0xD0...0xD7).contains(marker) { offset += 2; continue }  // no length
            if marker == 0xDA || marker == 0xD9 { break }                       // scan or end before a frame
            let length = bigEndian(offset + 2, 2)
            if (0xC0...0xCF).contains(marker) && ![0xC4, 0xC8, 0xCC].contains(marker) {
                guard offset + 9 <= bytes.count, length >= 7 else { break }
                return (bigEndian(offset + 7, 2), bigEndian(offset + 5, 2))
            }
            offset += 2 + length
        }
        throw ImagingError.corrupt(file: name, reason: "JPEG without a frame header (SOF) before the image data")
    case nil:
        let head = data.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
        throw ImagingError.notAnImage(file: name, reason: "no PNG or JPEG signature (first bytes: \(head))")
    }
}
