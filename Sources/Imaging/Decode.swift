// PNG and JPEG decoding to 8-bit RGB, defined to equal what Pillow gives for
// `Image.open(path)` followed by the conversion below (the fixtures of
// scripts/fixtures/imaging_fixtures.py check this pixel for pixel):
//
//   file                         Pillow mode    our conversion (= Pillow's)
//   PNG gray 1/2/4/8 bit         L (scaled)     replicate into R, G, B
//   PNG gray 16 bit              I;16           clip to 0...255 (Pillow's convert("RGB") clips
//                                               16-bit gray, it does not rescale: 256...65535 → 255)
//   PNG RGB / RGBA / gray+alpha  RGB / RGBA     16-bit samples keep their high byte (Pillow's
//     at 16 bit                                 "RGB;16B" unpacking); gray+alpha becomes RGBA
//   palette, tRNS                P / L / RGB    expanded to RGBA through the tRNS chunk
//   (16-bit gray or RGB + tRNS                  libpng matches the key on all 16 bits; Pillow
//    colour key)                                compares its low byte with the 8-bit pixel, so
//                                               the two agree only for keys below 256 (tested);
//                                               we keep the PNG-spec behaviour
//   any alpha                    RGBA / LA      composited on white exactly like
//                                               `white.paste(image, mask=image)`:
//                                               out = (255·(255−a) + c·a) / 255, rounded (Pillow's DIV255)
//   JPEG YCbCr / RGB / gray      RGB / L        libjpeg defaults (ISLOW IDCT, fancy upsampling)
//   JPEG CMYK / YCCK             CMYK           Pillow's rule: ink stored inverted (Adobe convention,
//                                               assumed for every CMYK JPEG), then
//                                               rgb = (255−k) − c·(255−k)/255 (MULDIV255)
//
// Gamma, sRGB and ICC chunks are ignored, as Pillow ignores them. libpng and libjpeg errors
// arrive as return codes from the small C targets CPNG and CJPEG (which own the setjmp), and
// become `ImagingError`s naming the file.

import CJPEG
import CPNG
import Foundation

/// Pixels allowed by default: 64 megapixels, about 8000 x 8000 (Pillow warns at 89 M).
public let defaultMaxPixels = 64_000_000

public enum ImageFormat: String, Sendable {
    case png, jpeg
}

/// The format announced by the first bytes, or nil.
public func detectFormat(_ data: Data) -> ImageFormat? {
    let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    if data.count >= png.count && data.prefix(png.count).elementsEqual(png) { return .png }
    if data.count >= 3 && data.prefix(3).elementsEqual([0xFF, 0xD8, 0xFF]) { return .jpeg }
    return nil
}

/// Decodes the PNG or JPEG file at `url` (format from its magic bytes, not its extension).
public func decodeImage(at url: URL, maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
    let data: Data
    do {
        data = try Data(contentsOf: url, options: .mappedIfSafe)
    } catch {
        throw ImagingError.unreadable(file: url.path, reason: error.localizedDescription)
    }
    return try decodeImage(data: data, name: url.path, maxPixels: maxPixels)
}

/// Decodes PNG or JPEG bytes; `name` is used in error messages.
public func decodeImage(data: Data, name: String, maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
    guard !data.isEmpty else { throw ImagingError.notAnImage(file: name, reason: "the file is empty (0 bytes)") }
    switch detectFormat(data) {
    case .png: return try decodePNG(data: data, name: name, maxPixels: maxPixels)
    case .jpeg: return try decodeJPEG(data: data, name: name, maxPixels: maxPixels)
    case nil:
        let head = data.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
        throw ImagingError.notAnImage(file: name, reason: "no PNG or JPEG signature (first bytes: \(head))")
    }
}

// MARK: - PNG

private func decodePNG(data: Data, name: String, maxPixels: Int) throws -> RGBImage {
    var decoded = cpng_image()
    let code = data.withUnsafeBytes { raw -> Int32 in
        cpng_decode(raw.bindMemory(to: UInt8.self).baseAddress, raw.count, UInt64(max(0, maxPixels)), &decoded)
    }
    defer { cpng_free(&decoded) }
    let message = cString(&decoded.message)
    switch code {
    case Int32(CPNG_OK): break
    case Int32(CPNG_TOO_LARGE):
        throw ImagingError.tooLarge(file: name, width: Int(decoded.width), height: Int(decoded.height), limit: maxPixels)
    case Int32(CPNG_OUT_OF_MEMORY): throw ImagingError.unsupported(file: name, reason: message)
    default: throw ImagingError.corrupt(file: name, reason: message)
    }
    guard let samples = decoded.pixels else { throw ImagingError.corrupt(file: name, reason: "libpng returned no pixels") }
    let width = Int(decoded.width), height = Int(decoded.height), channels = Int(decoded.channels)
    let count = width * height
    var pixels = [UInt8](repeating: 0, count: count * 3)
    if decoded.bit_depth == 8 {
        let source = samples.bindMemory(to: UInt8.self, capacity: count * channels)
        pixels.withUnsafeMutableBufferPointer { out in
            convertToRGB(count: count, channels: channels, out: out.baseAddress!) { source[$0] }
        }
    } else {
        let source = samples.bindMemory(to: UInt16.self, capacity: count * channels)
        pixels.withUnsafeMutableBufferPointer { out in
            if channels == 1 {
                // Pillow: I;16 → RGB clips instead of rescaling.
                for i in 0..<count {
                    let value = UInt8(min(source[i], 255))
                    out[3 * i] = value; out[3 * i + 1] = value; out[3 * i + 2] = value
                }
            } else if channels == 2 && decoded.color_type == 0 {
                // 16-bit gray whose alpha came from a tRNS key: Pillow keeps it I;16, so clip the gray.
                for i in 0..<count {
                    let value = compositeOnWhite(UInt8(min(source[2 * i], 255)), alpha: UInt8(source[2 * i + 1] >> 8))
                    out[3 * i] = value; out[3 * i + 1] = value; out[3 * i + 2] = value
                }
            } else {
                // Pillow unpacks 16-bit RGB(A)/LA by keeping the most significant byte.
                convertToRGB(count: count, channels: channels, out: out.baseAddress!) { UInt8(source[$0] >> 8) }
            }
        }
    }
    return RGBImage(width: width, height: height, pixels: pixels)
}

/// Pillow's paste-with-mask blend of a pixel over white: DIV255(255·(255−a) + c·a).
@inline(__always)
func compositeOnWhite(_ channel: UInt8, alpha: UInt8) -> UInt8 {
    let a = Int(alpha)
    let t = 255 * (255 - a) + Int(channel) * a + 128
    return UInt8(((t >> 8) + t) >> 8)
}

/// Interleaved samples with 1 to 4 channels (gray, gray+alpha, RGB, RGBA) → RGB over white.
@inline(__always)
private func convertToRGB(count: Int, channels: Int, out: UnsafeMutablePointer<UInt8>, sample: (Int) -> UInt8) {
    switch channels {
    case 1:
        for i in 0..<count {
            let value = sample(i)
            out[3 * i] = value; out[3 * i + 1] = value; out[3 * i + 2] = value
        }
    case 2:
        for i in 0..<count {
            let value = compositeOnWhite(sample(2 * i), alpha: sample(2 * i + 1))
            out[3 * i] = value; out[3 * i + 1] = value; out[3 * i + 2] = value
        }
    case 3:
        for i in 0..<(3 * count) { out[i] = sample(i) }
    default:
        for i in 0..<count {
            let alpha = sample(4 * i + 3)
            out[3 * i] = compositeOnWhite(sample(4 * i), alpha: alpha)
            out[3 * i + 1] = compositeOnWhite(sample(4 * i + 1), alpha: alpha)
            out[3 * i + 2] = compositeOnWhite(sample(4 * i + 2), alpha: alpha)
        }
    }
}

// MARK: - JPEG

private func decodeJPEG(data: Data, name: String, maxPixels: Int) throws -> RGBImage {
    var decoded = cjpeg_image()
    let code = data.withUnsafeBytes { raw -> Int32 in
        cjpeg_decode(raw.bindMemory(to: UInt8.self).baseAddress, raw.count, UInt64(max(0, maxPixels)), &decoded)
    }
    defer { cjpeg_free(&decoded) }
    let message = cString(&decoded.message)
    switch code {
    case Int32(CJPEG_OK): break
    case Int32(CJPEG_TOO_LARGE):
        throw ImagingError.tooLarge(file: name, width: Int(decoded.width), height: Int(decoded.height), limit: maxPixels)
    case Int32(CJPEG_OUT_OF_MEMORY): throw ImagingError.unsupported(file: name, reason: message)
    default: throw ImagingError.corrupt(file: name, reason: message)
    }
    guard let source = decoded.pixels else { throw ImagingError.corrupt(file: name, reason: "libjpeg returned no pixels") }
    let width = Int(decoded.width), height = Int(decoded.height), channels = Int(decoded.channels)
    let count = width * height
    var pixels = [UInt8](repeating: 0, count: count * 3)
    pixels.withUnsafeMutableBufferPointer { out in
        switch channels {
        case 1:
            for i in 0..<count {
                out[3 * i] = source[i]; out[3 * i + 1] = source[i]; out[3 * i + 2] = source[i]
            }
        case 3:
            for i in 0..<(3 * count) { out[i] = source[i] }
        default:
            // Pillow reads every CMYK JPEG as "CMYK;I" (inverted), then cmyk2rgb.
            for i in 0..<count {
                let inverseBlack = Int(source[4 * i + 3])          // 255 − k with k = 255 − stored
                for c in 0..<3 {
                    let ink = 255 - Int(source[4 * i + c])
                    let t = ink * inverseBlack + 128
                    out[3 * i + c] = UInt8(clamping: inverseBlack - (((t >> 8) + t) >> 8))
                }
            }
        }
    }
    return RGBImage(width: width, height: height, pixels: pixels)
}

private func cString<T>(_ tuple: inout T) -> String {
    withUnsafeBytes(of: &tuple) { raw in
        let bytes = raw.bindMemory(to: UInt8.self)
        let end = bytes.firstIndex(of: 0) ?? bytes.count
        return String(decoding: bytes[0..<end], as: UTF8.self)
    }
}
