// PyTorch checkpoints read without Python.
//
// Reference: torch/serialization.py.
//   zip format (torch >= 1.6, `_save` / `_load`): a zip archive with one top folder
//     <prefix>/data.pkl      the pickle; storages are persistent ids
//                            ('storage', torch.FloatStorage, key, location, numel)
//     <prefix>/data/<key>    each storage's raw little-endian bytes
//     <prefix>/byteorder     "little" (absent in old files, meaning little)
//   legacy format (`_legacy_save` / `_legacy_load`): five things back to back in one file
//     pickle MAGIC_NUMBER (0x1950a86a20f9469cfc6c), pickle PROTOCOL_VERSION (1001),
//     pickle sys_info (little_endian, type_sizes), the pickle of the object itself whose
//     persistent ids are ('storage', type, root_key, location, numel, view_metadata),
//     pickle of the sorted storage keys, then per key: int64 element count + raw bytes.
// Tensors are `_rebuild_tensor_v2(storage, offset, size, stride, ...)` views: offsets and
// strides are honoured, and non-contiguous views are materialised in row-major order.

import Foundation
import ZIPFoundation

/// The total memory a checkpoint may make us allocate. Tensors are materialised as Float32, so a
/// float32 file needs about its own size, float16 twice and int8 four times; tied weights (two
/// tensors viewing one storage) add a little. Beyond 8 bytes per file byte a checkpoint is
/// amplifying (many views of one storage) and is refused before anything is allocated.
/// CARCINOMA_MAX_CHECKPOINT_BYTES (a byte count) replaces the bound, to load such a file anyway.
public enum CheckpointLimits {
    public static let bytesPerFileByte = 8
    public static let environmentVariable = "CARCINOMA_MAX_CHECKPOINT_BYTES"
    /// Largest inflated size of a non-storage zip entry (data.pkl, byteorder, version).
    public static let maximumPickleBytes = 64 << 20

    /// The byte limit for a file of `fileBytes`, and how to say where it comes from.
    static func materialisedBytes(fileBytes: Int) -> (limit: Int, origin: String) {
        if let text = ProcessInfo.processInfo.environment[environmentVariable], let value = Int(text), value >= 0 {
            return (value, "\(environmentVariable)=\(value)")
        }
        let limit = fileBytes.multipliedReportingOverflow(by: bytesPerFileByte)
        return (limit.overflow ? Int.max : limit.partialValue,
                "\(bytesPerFileByte) × the file's \(fileBytes) bytes; set \(environmentVariable)=BYTES to raise it")
    }

    /// Throws unless the tensors' total Float32 bytes fit the limit for a file of `fileBytes`.
    static func check(elementCounts: [(key: String, count: Int)], fileBytes: Int, file: String) throws {
        let (limit, origin) = materialisedBytes(fileBytes: fileBytes)
        var total = 0
        for (key, count) in elementCounts {
            let bytes = count.multipliedReportingOverflow(by: MemoryLayout<Float>.size)
            let sum = total.addingReportingOverflow(bytes.partialValue)
            guard !bytes.overflow, !sum.overflow, sum.partialValue <= limit else {
                throw WeightsError.invalidCheckpoint(
                    file: file, problem: "tensors up to '\(key)' take \(bytes.overflow || sum.overflow ? "more than \(Int.max)" : String(sum.partialValue)) "
                        + "bytes as Float32, more than the limit of \(limit) bytes (\(origin))")
            }
            total = sum.partialValue
        }
    }
}

enum TorchCheckpoint {
    static let legacyMagicNumber: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19] // 0x1950a86a20f9469cfc6c, little-endian
    static let legacyProtocolVersion: Int64 = 1001

    // MARK: Legacy format

    static func loadLegacy(data: Data, file: String) throws -> WeightStore {
        var unpickler = Unpickler(data: data, file: file)
        let magic = try unpickler.load()
        guard case let .bigInt(bytes) = magic, bytes == legacyMagicNumber else {
            throw WeightsError.invalidCheckpoint(file: file, problem: "the legacy magic number is missing (not a torch.save file)")
        }
        let version = try unpickler.load()
        guard version == .int(legacyProtocolVersion) else {
            throw WeightsError.invalidCheckpoint(file: file, problem: "legacy protocol version is not \(legacyProtocolVersion)")
        }
        let systemInfo = try unpickler.load()
        if let entries = unpickler.dictEntries(systemInfo),
           let endian = entries.first(where: { $0.key == .string("little_endian") })?.value, endian == .bool(false) {
            throw WeightsError.invalidCheckpoint(file: file, problem: "big-endian checkpoints are not supported")
        }
        let root = try unpickler.load()
        let keyList = try unpickler.load()
        guard let keyValues = unpickler.listItems(keyList) else {
            throw WeightsError.invalidCheckpoint(file: file, problem: "the storage key list is missing after the pickle")
        }
        let keys: [String] = try keyValues.map { value in
            switch value {
            case let .string(key): return key
            case let .int(number): return String(number)
            default: throw WeightsError.invalidCheckpoint(file: file, problem: "a storage key is not a string")
            }
        }

        // Each declared root storage, by key: dtype and element count.
        var declared: [String: StorageReference] = [:]
        for storage in unpickler.storages {
            if let other = declared[storage.key], other.dtype != storage.dtype || other.elementCount != storage.elementCount {
                throw WeightsError.invalidCheckpoint(file: file, problem: "storage '\(storage.key)' declared with two types or sizes")
            }
            declared[storage.key] = storage
        }
        // Raw storages follow the key list: int64 count, then count * element size bytes.
        var position = unpickler.position
        var regions: [String: Range<Int>] = [:]
        for key in keys {
            guard let storage = declared[key] else {
                throw WeightsError.invalidCheckpoint(file: file, problem: "storage '\(key)' is listed but no tensor uses it")
            }
            guard regions[key] == nil else {
                throw WeightsError.invalidCheckpoint(file: file, problem: "storage '\(key)' is listed twice")
            }
            guard position + 8 <= data.count else {
                throw WeightsError.invalidCheckpoint(file: file, problem: "file ends before storage '\(key)' (truncated?)")
            }
            let count = data.withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(fromByteOffset: position, as: Int64.self)) }
            guard count == Int64(storage.elementCount) else {
                throw WeightsError.invalidCheckpoint(
                    file: file, problem: "storage '\(key)' holds \(count) elements in the file but the pickle declares \(storage.elementCount)")
            }
            let byteCount = storage.elementCount.multipliedReportingOverflow(by: storage.dtype.byteCount)
            guard !byteCount.overflow, byteCount.partialValue <= data.count - position - 8 else {
                throw WeightsError.invalidCheckpoint(
                    file: file, problem: "storage '\(key)' needs \(storage.elementCount) × \(storage.dtype.byteCount) bytes but the file ends first (truncated?)")
            }
            regions[key] = (position + 8)..<(position + 8 + byteCount.partialValue)
            position += 8 + byteCount.partialValue
        }
        for key in declared.keys where regions[key] == nil {
            throw WeightsError.invalidCheckpoint(file: file, problem: "storage '\(key)' is used but its data is missing")
        }
        let tensors = try flatten(root, unpickler: unpickler, file: file)
        try CheckpointLimits.check(elementCounts: tensors.map { key, index in
            let reference = unpickler.tensors[index]
            let storage = unpickler.storages[reference.storage]
            return (key, try checkedElementCount(reference, storage: storage, byteCount: regions[storage.key]?.count ?? 0, key: key, file: file))
        }, fileBytes: data.count, file: file)
        return try data.withUnsafeBytes { buffer in
            var result: [String: WeightTensor] = [:]
            for (key, index) in tensors {
                let reference = unpickler.tensors[index]
                let storage = unpickler.storages[reference.storage]
                guard let region = regions[storage.key] else {
                    throw WeightsError.invalidCheckpoint(file: file, problem: "storage '\(storage.key)' of '\(key)' is missing")
                }
                let bytes = UnsafeRawBufferPointer(rebasing: buffer[region])
                result[key] = try materialise(reference, storage: storage, bytes: bytes, key: key, file: file)
            }
            return WeightStore(tensors: result, source: file)
        }
    }

    // MARK: Zip format

    static func loadZip(url: URL, data: Data, file: String) throws -> WeightStore {
        let directory = try ZipDirectory(data: data, file: file)
        let archive: Archive
        do {
            archive = try Archive(url: url, accessMode: .read)
        } catch {
            throw WeightsError.invalidCheckpoint(file: file, problem: "cannot open the zip archive (\(error))")
        }
        var entries: [String: Entry] = [:]
        let records = Dictionary(directory.records.map { ($0.path, $0) }, uniquingKeysWith: { (first: ZipDirectory.Record, _: ZipDirectory.Record) in first })
        for entry in archive {
            // ZIPFoundation must see the directory that was checked.
            guard let record = records[entry.path], record.compressedSize == entry.compressedSize,
                  record.uncompressedSize == entry.uncompressedSize, entries[entry.path] == nil else {
                throw WeightsError.invalidCheckpoint(file: file, problem: "zip directory: entry '\(entry.path)' is not the one checked")
            }
            entries[entry.path] = entry
        }
        guard let pickleEntry = entries.values.filter({ $0.path.hasSuffix("data.pkl") })
            .min(by: { $0.path.count < $1.path.count }) else {
            throw WeightsError.invalidCheckpoint(file: file, problem: "the zip archive has no data.pkl (not a torch.save file)")
        }
        let prefix = String(pickleEntry.path.dropLast("data.pkl".count))
        if let byteorderEntry = entries[prefix + "byteorder"] {
            let order = String(decoding: try read(byteorderEntry, from: archive, expectedBytes: nil, file: file), as: UTF8.self)
            guard order.trimmingCharacters(in: .whitespacesAndNewlines) == "little" else {
                throw WeightsError.invalidCheckpoint(file: file, problem: "byte order '\(order)' is not supported")
            }
        }
        let pickle = try read(pickleEntry, from: archive, expectedBytes: nil, file: file)
        guard !pickle.isEmpty else { throw WeightsError.invalidCheckpoint(file: file, problem: "data.pkl is empty") }
        var unpickler = Unpickler(data: pickle, file: "\(file):\(pickleEntry.path)")
        let root = try unpickler.load()
        let tensors = try flatten(root, unpickler: unpickler, file: file)
        // Each root storage's entry checked against the pickle (present, stored, the declared size),
        // then every view checked and the total budgeted, all before any storage is read.
        var storageEntries: [String: (entry: Entry, byteCount: Int)] = [:]
        for storage in unpickler.storages where storageEntries[storage.key] == nil {
            let path = prefix + "data/" + storage.key
            guard let entry = entries[path] else {
                throw WeightsError.invalidCheckpoint(file: file, problem: "the zip archive is missing the data entry '\(path)'")
            }
            let byteCount = storage.elementCount.multipliedReportingOverflow(by: storage.dtype.byteCount)
            guard !byteCount.overflow, UInt64(byteCount.partialValue) == entry.uncompressedSize else {
                throw WeightsError.invalidCheckpoint(
                    file: file, problem: "entry '\(path)' holds \(entry.uncompressedSize) bytes but the pickle declares \(storage.elementCount) × \(storage.dtype.byteCount)")
            }
            guard !entry.isCompressed else {
                throw WeightsError.invalidCheckpoint(
                    file: file, problem: "entry '\(path)' is compressed; torch.save stores storages uncompressed, and compressed ones are refused")
            }
            storageEntries[storage.key] = (entry, byteCount.partialValue)
        }
        try CheckpointLimits.check(elementCounts: tensors.map { key, index in
            let reference = unpickler.tensors[index]
            let storage = unpickler.storages[reference.storage]
            return (key, try checkedElementCount(reference, storage: storage, byteCount: storageEntries[storage.key]?.byteCount ?? 0,
                                                 key: key, file: file))
        }, fileBytes: data.count, file: file)
        // Stored entries do not overlap (ZipDirectory), so together they are at most the file's size.
        var storageBytes: [String: Data] = [:]
        for (key, stored) in storageEntries {
            storageBytes[key] = try read(stored.entry, from: archive, expectedBytes: stored.byteCount, file: file)
        }
        var result: [String: WeightTensor] = [:]
        for (key, index) in tensors {
            let reference = unpickler.tensors[index]
            let storage = unpickler.storages[reference.storage]
            guard let bytes = storageBytes[storage.key] else {
                throw WeightsError.invalidCheckpoint(file: file, problem: "storage '\(storage.key)' of '\(key)' is missing")
            }
            result[key] = try bytes.withUnsafeBytes { buffer in
                try materialise(reference, storage: storage, bytes: buffer, key: key, file: file)
            }
        }
        return WeightStore(tensors: result, source: file)
    }

    /// An entry's bytes; the entry's declared size is checked against the archive and against
    /// `expectedBytes` before anything is allocated, and never exceeded while inflating.
    private static func read(_ entry: Entry, from archive: Archive, expectedBytes: Int?, file: String) throws -> Data {
        let declared = entry.uncompressedSize
        if let expectedBytes, declared != UInt64(expectedBytes) {
            throw WeightsError.invalidCheckpoint(file: file, problem: "entry '\(entry.path)' has \(declared) bytes, expected \(expectedBytes)")
        }
        // Deflate expands at most 1032:1; a stored entry cannot exceed its compressed size.
        let ratio = entry.compressedSize.multipliedReportingOverflow(by: 1032)
        let ceiling = entry.isCompressed ? (ratio.overflow ? UInt64.max : ratio.partialValue) : entry.compressedSize
        guard declared <= ceiling, declared <= UInt64(Int.max) else {
            throw WeightsError.invalidCheckpoint(file: file, problem: "entry '\(entry.path)' claims \(declared) bytes, more than its compressed data can hold")
        }
        if expectedBytes == nil, declared > UInt64(CheckpointLimits.maximumPickleBytes) {
            throw WeightsError.invalidCheckpoint(
                file: file, problem: "entry '\(entry.path)' claims \(declared) bytes, more than the limit of \(CheckpointLimits.maximumPickleBytes) for a pickle")
        }
        let fileSize = (try? FileManager.default.attributesOfItem(atPath: archive.url.path)[.size] as? NSNumber)?.uint64Value ?? UInt64.max
        guard entry.compressedSize <= fileSize else {
            throw WeightsError.invalidCheckpoint(file: file, problem: "entry '\(entry.path)' claims \(entry.compressedSize) compressed bytes, more than the file holds")
        }
        var output = Data()
        output.reserveCapacity(Int(min(declared, fileSize)))
        do {
            _ = try archive.extract(entry, skipCRC32: false) { chunk in
                guard output.count + chunk.count <= Int(declared) else {
                    throw WeightsError.invalidCheckpoint(file: file, problem: "entry '\(entry.path)' inflates past its declared size")
                }
                output.append(chunk)
            }
        } catch let error as WeightsError {
            throw error
        } catch {
            throw WeightsError.invalidCheckpoint(file: file, problem: "cannot read entry '\(entry.path)' (\(error))")
        }
        guard output.count == Int(declared) else {
            throw WeightsError.invalidCheckpoint(file: file, problem: "entry '\(entry.path)' is truncated")
        }
        return output
    }

    // MARK: Shared

    /// Flattens nested dicts, lists and tuples into dotted keys ("state_dict.layer1.0.conv1.weight"),
    /// keeping tensors and dropping every other leaf (epochs, names, optimiser scalars).
    static func flatten(_ root: PickleValue, unpickler: Unpickler, file: String, maximumDepth: Int = 100) throws -> [(String, Int)] {
        var result: [(String, Int)] = []
        var seen = Set<String>()
        // Shared containers could make the tree exponentially larger than the file.
        var visits = 0
        let maximumVisits = 4_000_000
        func visit(_ value: PickleValue, _ prefix: String, _ depth: Int) throws {
            visits += 1
            guard visits <= maximumVisits else {
                throw WeightsError.invalidCheckpoint(file: file, problem: "more than \(maximumVisits) values reachable (shared containers?)")
            }
            guard depth <= maximumDepth else {
                let shown = prefix.count > 80 ? prefix.prefix(80) + "…" : Substring(prefix)
                throw WeightsError.invalidCheckpoint(file: file, problem: "containers nested deeper than \(maximumDepth) levels at '\(shown)' (a cycle?)")
            }
            func join(_ name: String) -> String { prefix.isEmpty ? name : prefix + "." + name }
            switch value {
            case let .tensor(index):
                guard seen.insert(prefix).inserted else {
                    throw WeightsError.invalidCheckpoint(file: file, problem: "tensor name '\(prefix)' occurs twice")
                }
                result.append((prefix, index))
            case .dict:
                var latest: [String: PickleValue] = [:]
                var order: [String] = []
                for entry in unpickler.dictEntries(value) ?? [] {
                    let name: String
                    switch entry.key {
                    case let .string(text): name = text
                    case let .int(number): name = String(number)
                    default: continue // non-string keys never name tensors in a state dict
                    }
                    if latest.updateValue(entry.value, forKey: name) == nil { order.append(name) }
                }
                for name in order { try visit(latest[name] ?? .none, join(name), depth + 1) }
            case .list, .tuple:
                let items = unpickler.listItems(value) ?? unpickler.tupleItems(value) ?? []
                for (index, item) in items.enumerated() { try visit(item, join(String(index)), depth + 1) }
            default:
                break
            }
        }
        try visit(root, "", 0)
        return result
    }

    /// Checks a tensor view against its storage with overflow-reporting arithmetic and returns
    /// its element count: sizes, strides and offsets are untrusted numbers from the pickle. A view
    /// with more elements than its storage window holds (stride 0 or overlapping strides, which
    /// torch loads as a view but we would copy out) is refused, so no view materialises more
    /// elements than the file stores.
    static func checkedElementCount(_ reference: TensorReference, storage: StorageReference, byteCount: Int,
                                    key: String, file: String) throws -> Int {
        let shape = reference.shape
        func fail(_ problem: String) -> WeightsError {
            .invalidCheckpoint(file: file, problem: "tensor '\(key)': \(problem)")
        }
        guard shape.count == reference.stride.count else { throw fail("size \(shape) and stride \(reference.stride) differ in length") }
        guard shape.allSatisfy({ $0 >= 0 }), reference.stride.allSatisfy({ $0 >= 0 }), reference.storageOffset >= 0 else {
            throw fail("negative size, stride or offset")
        }
        var count = 1
        for size in shape {
            let product = count.multipliedReportingOverflow(by: size)
            guard !product.overflow else { throw fail("size \(shape) overflows (more than \(Int.max) elements)") }
            count = product.partialValue
        }
        // The storage window this tensor may read: the whole root, or a legacy view of it.
        let windowStart = storage.viewOffset
        let windowCount = storage.viewCount ?? storage.elementCount
        let windowEnd = windowStart.addingReportingOverflow(windowCount)
        guard windowStart >= 0, windowCount >= 0, !windowEnd.overflow, windowEnd.partialValue <= storage.elementCount else {
            throw fail("storage view (offset \(windowStart), size \(windowCount)) lies outside its storage of \(storage.elementCount) elements")
        }
        let storageBytes = storage.elementCount.multipliedReportingOverflow(by: storage.dtype.byteCount)
        guard !storageBytes.overflow, storageBytes.partialValue <= byteCount else {
            throw fail("storage '\(storage.key)' is shorter than declared (\(storage.elementCount) elements)")
        }
        guard count > 0 else { return 0 }
        // Largest element index the view touches: offset + Σ (size − 1) × stride, every step checked.
        var last = reference.storageOffset
        for (size, stride) in zip(shape, reference.stride) where size > 1 {
            let step = (size - 1).multipliedReportingOverflow(by: stride)
            let sum = last.addingReportingOverflow(step.partialValue)
            guard !step.overflow, !sum.overflow else {
                throw fail("offset \(reference.storageOffset) + size \(shape) × stride \(reference.stride) overflows")
            }
            last = sum.partialValue
        }
        guard last < windowCount else {
            throw fail("view (offset \(reference.storageOffset), size \(shape), stride \(reference.stride)) reads element \(last) of a storage with \(windowCount)")
        }
        guard count <= windowCount else {
            throw fail("view of size \(shape) has \(count) elements but its storage '\(storage.key)' holds \(windowCount) "
                       + "(stride \(reference.stride) repeats elements; expanded views are not materialised)")
        }
        return count
    }

    /// A tensor view over its storage's bytes, converted to Float32 in row-major order.
    static func materialise(_ reference: TensorReference, storage: StorageReference, bytes: UnsafeRawBufferPointer,
                            key: String, file: String) throws -> WeightTensor {
        let count = try checkedElementCount(reference, storage: storage, byteCount: bytes.count, key: key, file: file)
        let shape = reference.shape
        // Axes of size 1 never step: their stride (any number) is irrelevant and set to 0.
        let stride = zip(shape, reference.stride).map { $0 == 1 ? 0 : $1 }
        var values = [Float](repeating: 0, count: count)
        guard count > 0 else { return WeightTensor(shape: shape, values: values, dtype: storage.dtype) }
        let base = storage.viewOffset + reference.storageOffset
        let contiguous = isContiguous(shape: shape, stride: stride)
        values.withUnsafeMutableBufferPointer { output in
            guard let outputBase = output.baseAddress else { return }
            if contiguous {
                decode(bytes, dtype: storage.dtype, from: base, count: count, into: outputBase)
            } else {
                // Odometer over the indices, last dimension fastest. Every index stays within
                // [base, base + last] (checked above), so no step can overflow.
                var index = [Int](repeating: 0, count: shape.count)
                var element = base
                for position in 0..<count {
                    output[position] = decodeOne(bytes, dtype: storage.dtype, at: element)
                    var axis = shape.count - 1
                    while axis >= 0 {
                        index[axis] += 1
                        element += stride[axis]
                        if index[axis] < shape[axis] { break }
                        element -= stride[axis] * shape[axis]
                        index[axis] = 0
                        axis -= 1
                    }
                }
            }
        }
        return WeightTensor(shape: shape, values: values, dtype: storage.dtype)
    }

    static func isContiguous(shape: [Int], stride: [Int]) -> Bool {
        var expected = 1
        for axis in stride.indices.reversed() where shape[axis] != 1 {
            if stride[axis] != expected { return false }
            let product = expected.multipliedReportingOverflow(by: shape[axis])
            if product.overflow { return false }
            expected = product.partialValue
        }
        return true
    }
}

// MARK: Element decoding (little-endian on disk)

/// Decodes `count` consecutive elements starting at element `first`.
func decode(_ bytes: UnsafeRawBufferPointer, dtype: WeightDType, from first: Int, count: Int, into output: UnsafeMutablePointer<Float>) {
    let start = first * dtype.byteCount
    switch dtype {
    case .float32:
        for index in 0..<count {
            output[index] = Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: start + 4 * index, as: UInt32.self)))
        }
    case .float16:
        for index in 0..<count {
            output[index] = floatFromHalf(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: start + 2 * index, as: UInt16.self)))
        }
    case .bfloat16:
        for index in 0..<count {
            let bits = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: start + 2 * index, as: UInt16.self))
            output[index] = Float(bitPattern: UInt32(bits) << 16)
        }
    default:
        for index in 0..<count { output[index] = decodeOne(bytes, dtype: dtype, at: first + index) }
    }
}

/// Decodes element `element` (an element index, not a byte offset).
@inline(__always)
func decodeOne(_ bytes: UnsafeRawBufferPointer, dtype: WeightDType, at element: Int) -> Float {
    let offset = element * dtype.byteCount
    switch dtype {
    case .float64: return Float(Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))))
    case .float32: return Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
    case .float16: return floatFromHalf(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    case .bfloat16: return Float(bitPattern: UInt32(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))) << 16)
    case .int64: return Float(Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int64.self)))
    case .int32: return Float(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self)))
    case .int16: return Float(Int16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int16.self)))
    case .int8: return Float(bytes.load(fromByteOffset: offset, as: Int8.self))
    case .uint8: return Float(bytes[offset])
    case .bool: return bytes[offset] != 0 ? 1 : 0
    }
}

/// IEEE 754 binary16 → binary32, exact (every half is a float).
@inline(__always)
func floatFromHalf(_ bits: UInt16) -> Float {
    let sign: UInt32 = UInt32(bits & 0x8000) << 16
    let exponent = UInt32(bits >> 10) & 0x1F
    let mantissa = UInt32(bits & 0x3FF)
    if exponent == 0 {
        // Zero or subnormal: mantissa × 2^-24.
        let magnitude = Float(mantissa) * Float(bitPattern: 0x3380_0000)
        return sign == 0 ? magnitude : -magnitude
    }
    if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) } // inf / NaN
    return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
}
