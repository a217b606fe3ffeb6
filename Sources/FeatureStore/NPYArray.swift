// NumPy .npy files (format spec: numpy/lib/format.py, "NEP 1").
//
// Layout: magic "\x93NUMPY", major, minor, header length (uint16 LE for 1.0, uint32 LE for
// 2.0/3.0), an ASCII Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (R, C), }
// padded with spaces and a final '\n' so the data starts at a multiple of 64 bytes, then the
// raw little-endian values in C order.

import Foundation

public struct NPYArray: Equatable, Sendable {
    public var shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.shape = shape
        self.values = values
    }

    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59] // \x93NUMPY

    /// Reads '<f4' (or '<f8', converted to Float) arrays in C order, format versions 1.0, 2.0 and 3.0.
    public static func read(from url: URL) throws -> NPYArray {
        try parse(readWholeFile(url), file: url.path)
    }

    /// Parses the bytes of a .npy file; `file` only labels errors.
    public static func parse(_ data: Data, file: String) throws -> NPYArray {
        let bytes = [UInt8](data)
        guard bytes.count >= 10 else { throw FeatureStoreError.notNPY(file: file, reason: "only \(bytes.count) bytes") }
        guard Array(bytes[0..<6]) == magic else {
            throw FeatureStoreError.notNPY(file: file, reason: "missing the \\x93NUMPY magic")
        }
        let major = bytes[6], minor = bytes[7]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw FeatureStoreError.notNPY(file: file, reason: "header length cut off") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw FeatureStoreError.notNPY(file: file, reason: "unsupported format version \(major).\(minor)")
        }
        guard headerStart + headerLength <= bytes.count else {
            throw FeatureStoreError.notNPY(file: file, reason: "header of \(headerLength) bytes runs past the end of the file")
        }
        guard let header = String(bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw FeatureStoreError.notNPY(file: file, reason: "header is not text")
        }
        let fields = try parseHeader(header, file: file)
        guard fields.descr == "<f4" || fields.descr == "<f8" else {
            throw FeatureStoreError.unsupportedDType(file: file, descr: fields.descr)
        }
        if fields.fortranOrder { throw FeatureStoreError.fortranOrder(file: file) }
        var count = 1
        for dimension in fields.shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow, dimension >= 0 else {
                throw FeatureStoreError.notNPY(file: file, reason: "shape \(fields.shape) is too large")
            }
            count = product
        }
        let itemSize = fields.descr == "<f4" ? 4 : 8
        let dataStart = headerStart + headerLength
        let available = bytes.count - dataStart
        let (needed, overflow) = count.multipliedReportingOverflow(by: itemSize)
        guard !overflow, needed <= available else {
            throw FeatureStoreError.truncated(file: file, expectedBytes: overflow ? Int.max : needed, actualBytes: available)
        }
        var values = [Float](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            let base = raw.baseAddress! + dataStart
            if itemSize == 4 {
                for index in 0..<count {
                    values[index] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * index, as: UInt32.self)))
                }
            } else {
                for index in 0..<count {
                    values[index] = Float(Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * index, as: UInt64.self))))
                }
            }
        }
        return NPYArray(shape: fields.shape, values: values)
    }

    /// The three keys of the header dict. Accepts numpy's own spacing and any key order.
    static func parseHeader(_ header: String, file: String) throws -> (descr: String, fortranOrder: Bool, shape: [Int]) {
        func fail(_ reason: String) -> FeatureStoreError { .notNPY(file: file, reason: "header \(reason): \(header.trimmingCharacters(in: .whitespacesAndNewlines).prefix(120))") }
        func value(after key: String) throws -> Substring {
            for quote in ["'", "\""] {
                if let range = header.range(of: quote + key + quote) {
                    var rest = header[range.upperBound...].drop { $0 == " " }
                    guard rest.first == ":" else { throw fail("has no ':' after '\(key)'") }
                    rest = rest.dropFirst().drop { $0 == " " }
                    return rest
                }
            }
            throw fail("has no '\(key)' key")
        }
        let descrRest = try value(after: "descr")
        guard let quote = descrRest.first, quote == "'" || quote == "\"",
              let end = descrRest.dropFirst().firstIndex(of: quote) else { throw fail("has an unreadable 'descr'") }
        var descr = String(descrRest[descrRest.index(after: descrRest.startIndex)..<end])
        if descr == "|f4" || descr == "=f4" { descr = "<f4" } // single-byte order markers used by some writers on little-endian hosts
        if descr == "=f8" { descr = "<f8" }
        let fortranRest = try value(after: "fortran_order")
        let fortranOrder: Bool
        if fortranRest.hasPrefix("False") { fortranOrder = false } else if fortranRest.hasPrefix("True") { fortranOrder = true } else {
            throw fail("has an unreadable 'fortran_order'")
        }
        let shapeRest = try value(after: "shape")
        guard shapeRest.first == "(", let close = shapeRest.firstIndex(of: ")") else { throw fail("has an unreadable 'shape'") }
        let inside = shapeRest[shapeRest.index(after: shapeRest.startIndex)..<close]
        var shape: [Int] = []
        for part in inside.split(separator: ",") {
            let trimmed = part.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "L", with: "")
            if trimmed.isEmpty { continue }
            guard let dimension = Int(trimmed), dimension >= 0 else { throw fail("has a bad dimension '\(trimmed)'") }
            shape.append(dimension)
        }
        return (descr, fortranOrder, shape)
    }

    /// The bytes numpy.save would write for this array as float32 (format 1.0, header padded to 64).
    public func encoded() -> Data {
        let shapeText: String
        switch shape.count {
        case 0: shapeText = "()"
        case 1: shapeText = "(\(shape[0]),)"
        default: shapeText = "(" + shape.map(String.init).joined(separator: ", ") + ")"
        }
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
        // magic(6) + version(2) + length(2) + header + '\n' must be a multiple of 64.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data(capacity: 10 + header.utf8.count + 4 * values.count)
        data.append(contentsOf: NPYArray.magic)
        data.append(contentsOf: [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
        data.append(contentsOf: Array(header.utf8))
        values.withUnsafeBufferPointer { buffer in
            guard buffer.count > 0 else { return }
            #if _endian(little)
            data.append(UnsafeBufferPointer(start: UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: UInt8.self), count: 4 * buffer.count))
            #else
            for value in buffer { withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
            #endif
        }
        return data
    }

    /// Writes float32 '<f4', format 1.0, atomically (temporary file, fsync, rename).
    public func write(to url: URL) throws {
        try writeAtomically(encoded(), to: url)
    }
}
