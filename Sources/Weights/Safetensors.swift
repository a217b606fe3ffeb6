// safetensors read (memory-mapped) and write.
//
// Format (huggingface/safetensors, README "Format"): 8 bytes little-endian u64 N, then N bytes
// of UTF-8 JSON {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
// "__metadata__": {"k": "v"}}, then the byte buffer; offsets are relative to the buffer.
// Validation follows the reference implementation: the header fits the file, every dtype is
// known, shape × element size equals end − begin, and the tensors tile the buffer exactly
// (sorted by begin they are contiguous from 0 to the buffer's end: no gap, no overlap).

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum Safetensors {
    /// Largest header accepted (the reference implementation's limit).
    public static let maximumHeaderBytes = 100_000_000

    /// True when `data` starts like a safetensors file (a plausible length then '{').
    static func looksLikeSafetensors(_ data: Data) -> Bool {
        guard data.count >= 9 else { return false }
        let length = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        return length >= 2 && length <= UInt64(maximumHeaderBytes) && data[data.startIndex + 8] == UInt8(ascii: "{")
    }

    /// Reads every tensor of a safetensors file, converting to Float32.
    public static func read(from url: URL) throws -> WeightStore {
        let file = url.path
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw WeightsError.fileAccess(file: file, problem: "cannot read (\(error.localizedDescription))")
        }
        return try read(data: data, file: file)
    }

    static func read(data: Data, file: String) throws -> WeightStore {
        func fail(_ problem: String) -> WeightsError { .invalidSafetensors(file: file, problem: problem) }
        guard data.count >= 8 else { throw fail("file is \(data.count) bytes, shorter than the 8-byte header length") }
        let headerLength = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(data.count - 8) else {
            throw fail("header length \(headerLength) is longer than the file (\(data.count - 8) bytes after the length)")
        }
        guard headerLength <= UInt64(maximumHeaderBytes) else { throw fail("header length \(headerLength) exceeds \(maximumHeaderBytes)") }
        let headerBytes = data.subdata(in: (data.startIndex + 8)..<(data.startIndex + 8 + Int(headerLength)))
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: headerBytes, options: [])
        } catch {
            let preview = String(decoding: headerBytes.prefix(40), as: UTF8.self)
            throw fail("header is not JSON (starts '\(preview)')")
        }
        guard let header = parsed as? [String: Any] else { throw fail("header is JSON but not an object") }
        let bufferStart = 8 + Int(headerLength)
        let bufferLength = data.count - bufferStart

        var metadata: [String: String] = [:]
        if let rawMetadata = header["__metadata__"] {
            guard let dictionary = rawMetadata as? [String: Any] else { throw fail("__metadata__ is not an object") }
            for (key, value) in dictionary {
                guard let text = value as? String else { throw fail("__metadata__ value for '\(key)' is not a string") }
                metadata[key] = text
            }
        }

        struct Entry { var name: String; var dtype: WeightDType; var shape: [Int]; var begin: Int; var end: Int }
        var entries: [Entry] = []
        for (name, rawInfo) in header where name != "__metadata__" {
            guard let info = rawInfo as? [String: Any] else { throw fail("entry '\(name)' is not an object") }
            guard let dtypeName = info["dtype"] as? String else { throw fail("entry '\(name)' has no dtype") }
            guard let dtype = WeightDType(safetensorsName: dtypeName) else {
                throw WeightsError.unsupportedDType(file: file, key: name, dtype: dtypeName)
            }
            guard let rawShape = info["shape"] as? [Any], let shape = integers(rawShape), shape.allSatisfy({ $0 >= 0 }) else {
                throw fail("entry '\(name)' has no valid shape (a list of non-negative integers)")
            }
            guard let rawOffsets = info["data_offsets"] as? [Any], let offsets = integers(rawOffsets), offsets.count == 2 else {
                throw fail("entry '\(name)' has no valid data_offsets (two integers)")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end, end <= bufferLength else {
                throw fail("entry '\(name)' has offsets [\(begin), \(end)) outside the \(bufferLength)-byte data buffer")
            }
            var byteCount = dtype.byteCount
            for size in shape {
                let product = byteCount.multipliedReportingOverflow(by: size)
                guard !product.overflow else { throw fail("entry '\(name)' shape \(shape) overflows") }
                byteCount = product.partialValue
            }
            guard byteCount == end - begin else {
                throw fail("entry '\(name)' shape \(shape) × \(dtype.byteCount) bytes = \(byteCount) but its offsets span \(end - begin)")
            }
            entries.append(Entry(name: name, dtype: dtype, shape: shape, begin: begin, end: end))
        }
        // The tensors must tile the buffer: no overlap, no gap, nothing after.
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var expectedBegin = 0
        for (index, entry) in entries.enumerated() {
            if entry.begin < expectedBegin, index > 0 {
                throw fail("entries '\(entries[index - 1].name)' and '\(entry.name)' overlap (byte \(entry.begin) < \(expectedBegin))")
            }
            if entry.begin > expectedBegin {
                throw fail("bytes [\(expectedBegin), \(entry.begin)) of the data buffer belong to no tensor")
            }
            expectedBegin = entry.end
        }
        guard expectedBegin == bufferLength else {
            throw fail("the data buffer has \(bufferLength) bytes but the tensors cover \(expectedBegin)")
        }

        var tensors: [String: WeightTensor] = [:]
        data.withUnsafeBytes { raw in
            let buffer = UnsafeRawBufferPointer(rebasing: raw[bufferStart...])
            for entry in entries {
                let count = entry.shape.reduce(1, *)
                var values = [Float](repeating: 0, count: count)
                if count > 0 {
                    let slice = UnsafeRawBufferPointer(rebasing: buffer[entry.begin..<entry.end])
                    values.withUnsafeMutableBufferPointer { output in
                        decode(slice, dtype: entry.dtype, from: 0, count: count, into: output.baseAddress!)
                    }
                }
                tensors[entry.name] = WeightTensor(shape: entry.shape, values: values, dtype: entry.dtype)
            }
        }
        return WeightStore(tensors: tensors, source: file, metadata: metadata)
    }

    /// JSON integers only: booleans (`true` is an NSNumber too) and numbers written with a
    /// fraction or exponent (`24.0`, `1e3`) are refused, as the reference implementation's serde
    /// u64 fields refuse them.
    private static func integers(_ values: [Any]) -> [Int]? {
        var result: [Int] = []
        for value in values {
            guard let number = value as? NSNumber else { return nil }
            switch String(cString: number.objCType) {
            case "s", "i", "l", "q": result.append(number.intValue)
            case "S", "I", "L", "Q":
                guard let integer = Int(exactly: number.uint64Value) else { return nil }
                result.append(integer)
            default: return nil     // "c" (bool), "d" / "f" (a number with a fraction or exponent)
            }
        }
        return result
    }

    /// Writes `tensors` as a safetensors file, atomically (a temporary file in the same folder,
    /// then rename). Floating-point tensors are written as F32; integer and bool tensors as I64,
    /// so torch's `load_state_dict` sees `num_batches_tracked` with its own dtype.
    public static func write(_ tensors: [String: WeightTensor], to url: URL, metadata: [String: String] = [:]) throws {
        let file = url.path
        let names = tensors.keys.sorted()
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for name in names {
            guard name != "__metadata__" else {
                throw WeightsError.invalidSafetensors(file: file, problem: "a tensor cannot be named __metadata__")
            }
            let tensor = tensors[name]!
            let dtype: WeightDType = tensor.dtype.isFloatingPoint ? .float32 : .int64
            let byteCount = tensor.count * dtype.byteCount
            header[name] = ["dtype": dtype.safetensorsName, "shape": tensor.shape, "data_offsets": [offset, offset + byteCount]] as [String: Any]
            offset += byteCount
        }
        var headerBytes = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // Pad with spaces so the buffer starts 8-byte aligned, as the reference writer does.
        while (8 + headerBytes.count) % 8 != 0 { headerBytes.append(UInt8(ascii: " ")) }

        try writeAtomically(to: url) { handle in
            var length = UInt64(headerBytes.count).littleEndian
            try handle.write(contentsOf: Data(bytes: &length, count: 8))
            try handle.write(contentsOf: headerBytes)
            for name in names {
                let tensor = tensors[name]!
                var chunk = Data()
                if tensor.dtype.isFloatingPoint {
                    tensor.values.withUnsafeBufferPointer { values in
                        chunk.reserveCapacity(values.count * 4)
                        for value in values {
                            var bits = value.bitPattern.littleEndian
                            withUnsafeBytes(of: &bits) { chunk.append(contentsOf: $0) }
                        }
                    }
                } else {
                    chunk.reserveCapacity(tensor.count * 8)
                    for value in tensor.values {
                        var integer = Int64(exactly: value.rounded()) ?? 0
                        integer = integer.littleEndian
                        withUnsafeBytes(of: &integer) { chunk.append(contentsOf: $0) }
                    }
                }
                try handle.write(contentsOf: chunk)
            }
        }
    }
}

/// Creates `url` through a temporary file in the same folder that is renamed into place only
/// after `body` succeeded, so a crash or error never leaves a half-written file under `url`.
func writeAtomically(to url: URL, _ body: (FileHandle) throws -> Void) throws {
    let file = url.path
    let folder = url.deletingLastPathComponent()
    let temporary = folder.appendingPathComponent(".\(url.lastPathComponent).partial-\(UUID().uuidString)")
    guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
        throw WeightsError.fileAccess(file: file, problem: "cannot create a temporary file in \(folder.path)")
    }
    do {
        let handle = try FileHandle(forWritingTo: temporary)
        do {
            try body(handle)
            try handle.synchronize()
            try handle.close()
        } catch {
            try? handle.close()
            throw error
        }
        guard rename(temporary.path, url.path) == 0 else {
            throw WeightsError.fileAccess(file: file, problem: "cannot rename the temporary file into place (errno \(errno))")
        }
    } catch {
        try? FileManager.default.removeItem(at: temporary)
        if error is WeightsError { throw error }
        throw WeightsError.fileAccess(file: file, problem: "cannot write (\(error.localizedDescription))")
    }
}

/// Writes `tensors` to `url` as safetensors (see `Safetensors.write`).
public func writeSafetensors(_ tensors: [String: WeightTensor], to url: URL, metadata: [String: String]) throws {
    try Safetensors.write(tensors, to: url, metadata: metadata)
}
