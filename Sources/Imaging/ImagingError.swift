// The one error type of the Imaging module. Every case names the file it is about.

import Foundation

public enum ImagingError: Error, LocalizedError, Equatable {
    /// The file could not be read at all (missing, permissions, a directory).
    case unreadable(file: String, reason: String)
    /// The bytes are not a PNG or JPEG (empty file, text, another format).
    case notAnImage(file: String, reason: String)
    /// The header claims more pixels than the caller allows; refused before allocating.
    case tooLarge(file: String, width: Int, height: Int, limit: Int)
    /// libpng or libjpeg rejected the data: truncated, bad CRC, bad Huffman table, ...
    case corrupt(file: String, reason: String)
    /// A valid file in a variant this module does not decode.
    case unsupported(file: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case let .unreadable(file, reason): return "\(file): cannot read the file: \(reason)"
        case let .notAnImage(file, reason): return "\(file): not a PNG or JPEG image: \(reason)"
        case let .tooLarge(file, width, height, limit):
            return "\(file): image header claims \(width) x \(height) = \(width * height) pixels, more than the limit of \(limit)"
        case let .corrupt(file, reason): return "\(file): corrupt or truncated image: \(reason)"
        case let .unsupported(file, reason): return "\(file): unsupported image: \(reason)"
        }
    }
}
