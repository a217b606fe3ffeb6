// The central directory of a zip checkpoint, read and checked before ZIPFoundation inflates
// anything: every entry's local header and data lie inside the file, no two entries share bytes,
// and (for torch checkpoints) storages are stored, not compressed.
//
// Reference: PKWARE APPNOTE.TXT 6.3.10, sections 4.3.7 (local file header, 30 bytes + name +
// extra), 4.3.12 (central directory header, 46 bytes + name + extra + comment), 4.3.14-4.3.16
// (zip64 end of central directory record and locator, end of central directory record) and
// 4.5.3 (zip64 extended information extra field, id 0x0001: original size, compressed size,
// local header offset, each present only when the 32-bit field is 0xFFFFFFFF).
// torch.save (caffe2/serialize/inline_container.cc, PyTorchStreamWriter) writes every record
// stored (method 0), aligned to 64 bytes, so a compressed storage is never torch's own output.
//
// Why: a directory whose entries all point at one deflated entry passes any per-entry ratio check
// and inflates that entry once per name (16 GiB from a 100 KB file).

import Foundation

struct ZipDirectory {
    struct Record: Equatable {
        var path: String
        /// 0 stored, 8 deflated, ...
        var method: UInt16
        var compressedSize: UInt64
        var uncompressedSize: UInt64
        /// Byte range of the local header through the end of the data.
        var span: Range<UInt64>
    }

    var records: [Record]

    /// Parses and checks the central directory of `data` (the whole file).
    init(data: Data, file: String) throws {
        func fail(_ problem: String) -> WeightsError { .invalidCheckpoint(file: file, problem: "zip directory: \(problem)") }
        let size = UInt64(data.count)
        func read<T: FixedWidthInteger>(_ offset: UInt64, _: T.Type) throws -> T {
            let width = UInt64(MemoryLayout<T>.size)
            guard offset <= size, width <= size - offset else { throw fail("a record at byte \(offset) runs past the end of the file") }
            return data.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: Int(offset), as: T.self)) }
        }
        // End of central directory: the last signature within 22 + 65535 bytes of the end.
        guard size >= 22 else { throw fail("the file is \(size) bytes, shorter than an end-of-directory record") }
        var end: UInt64? = nil
        var candidate = size - 22
        let lowest = size >= 22 + 65_535 ? size - 22 - 65_535 : 0
        while true {
            if try read(candidate, UInt32.self) == 0x0605_4B50 { end = candidate; break }
            if candidate == lowest { break }
            candidate -= 1
        }
        guard let end else { throw fail("no end-of-central-directory record") }
        var entryCount = UInt64(try read(end + 10, UInt16.self))
        var directorySize = UInt64(try read(end + 12, UInt32.self))
        var directoryOffset = UInt64(try read(end + 16, UInt32.self))
        var directoryLimit = end
        if end >= 20, try read(end - 20, UInt32.self) == 0x0706_4B50 {
            // zip64: the locator points at the zip64 end record, which holds the 64-bit counts.
            let record = try read(end - 20 + 8, UInt64.self)
            guard record < end - 20, try read(record, UInt32.self) == 0x0606_4B50 else {
                throw fail("the zip64 locator points at byte \(record), which holds no zip64 end record")
            }
            entryCount = try read(record + 32, UInt64.self)
            directorySize = try read(record + 40, UInt64.self)
            directoryOffset = try read(record + 48, UInt64.self)
            directoryLimit = record
        }
        let directoryEnd = directoryOffset.addingReportingOverflow(directorySize)
        guard !directoryEnd.overflow, directoryEnd.partialValue <= directoryLimit else {
            throw fail("the central directory (\(directorySize) bytes at \(directoryOffset)) lies outside the file")
        }
        // Each central header takes at least 46 bytes: the count cannot exceed what fits.
        guard entryCount <= directorySize / 46 else {
            throw fail("\(entryCount) entries cannot fit in a \(directorySize)-byte central directory")
        }
        var records: [Record] = []
        records.reserveCapacity(Int(entryCount))
        var position = directoryOffset
        for index in 0..<entryCount {
            guard try read(position, UInt32.self) == 0x0201_4B50 else {
                throw fail("central header \(index) at byte \(position) has a bad signature")
            }
            let method = try read(position + 10, UInt16.self)
            var compressed = UInt64(try read(position + 20, UInt32.self))
            var uncompressed = UInt64(try read(position + 24, UInt32.self))
            let nameLength = UInt64(try read(position + 28, UInt16.self))
            let extraLength = UInt64(try read(position + 30, UInt16.self))
            let commentLength = UInt64(try read(position + 32, UInt16.self))
            var localOffset = UInt64(try read(position + 42, UInt32.self))
            let nameStart = position + 46
            guard nameStart + nameLength + extraLength + commentLength <= directoryEnd.partialValue else {
                throw fail("central header \(index) runs past the end of the directory")
            }
            let path = String(decoding: data[(data.startIndex + Int(nameStart))..<(data.startIndex + Int(nameStart + nameLength))], as: UTF8.self)
            // zip64 extended information: the 64-bit values of the fields that are 0xFFFFFFFF, in order.
            var extra = nameStart + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let id = try read(extra, UInt16.self)
                let length = UInt64(try read(extra + 2, UInt16.self))
                guard extra + 4 + length <= extraEnd else { throw fail("entry '\(path)' has a truncated extra field") }
                if id == 0x0001 {
                    var field = extra + 4
                    func next() throws -> UInt64 {
                        guard field + 8 <= extra + 4 + length else { throw fail("entry '\(path)' has a short zip64 field") }
                        defer { field += 8 }
                        return try read(field, UInt64.self)
                    }
                    if uncompressed == 0xFFFF_FFFF { uncompressed = try next() }
                    if compressed == 0xFFFF_FFFF { compressed = try next() }
                    if localOffset == 0xFFFF_FFFF { localOffset = try next() }
                }
                extra += 4 + length
            }
            // The local header, and the data after it, must lie before the central directory.
            guard try read(localOffset, UInt32.self) == 0x0403_4B50 else {
                throw fail("entry '\(path)' points at byte \(localOffset), which holds no local header")
            }
            let localNameLength = UInt64(try read(localOffset + 26, UInt16.self))
            let localExtraLength = UInt64(try read(localOffset + 28, UInt16.self))
            let dataStart = localOffset + 30 + localNameLength + localExtraLength
            let dataEnd = dataStart.addingReportingOverflow(compressed)
            guard !dataEnd.overflow, dataEnd.partialValue <= directoryOffset else {
                throw fail("entry '\(path)' claims \(compressed) bytes at byte \(dataStart), past the end of the entries (\(directoryOffset))")
            }
            if method == 0, compressed != uncompressed {
                throw fail("stored entry '\(path)' has \(compressed) bytes but claims \(uncompressed) uncompressed")
            }
            records.append(Record(path: path, method: method, compressedSize: compressed, uncompressedSize: uncompressed,
                                  span: localOffset..<dataEnd.partialValue))
            position = nameStart + nameLength + extraLength + commentLength
        }
        // No two entries may share bytes (each is read once; overlapping entries amplify).
        let sorted = records.sorted { $0.span.lowerBound < $1.span.lowerBound }
        for (first, second) in zip(sorted, sorted.dropFirst()) where first.span.overlaps(second.span) || first.span.lowerBound == second.span.lowerBound {
            throw fail("entries '\(first.path)' and '\(second.path)' overlap (bytes \(first.span) and \(second.span))")
        }
        var seen = Set<String>()
        for record in records where !seen.insert(record.path).inserted {
            throw fail("entry '\(record.path)' occurs twice")
        }
        self.records = records
    }
}
