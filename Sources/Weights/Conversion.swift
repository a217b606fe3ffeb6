// `weights convert` and `weights list` as library functions (the CLI only wires them).

import Foundation

public struct ConversionReport: Sendable, Equatable {
    public var input: String
    public var output: String
    public var format: WeightFileFormat
    public var tensorCount: Int
    /// Bytes of the tensors as written (F32 / I64).
    public var writtenByteCount: Int
    public var sourceSHA256: String
}

/// Converts any readable weight file into safetensors at `output` (atomically).
/// `select` picks a sub-dictionary (dotted path); `stripPrefix` removes a key prefix such as
/// "module."; with neither, the usual wrappers are undone (`WeightStore.unwrapped`).
/// The source file name and SHA-256 are recorded in the safetensors metadata.
public func convertWeights(from input: URL, to output: URL, select: String? = nil, stripPrefix: String? = nil,
                           extraMetadata: [String: String] = [:]) throws -> ConversionReport {
    if sameFile(input, output) {
        throw WeightsError.fileAccess(file: output.path, problem: "is the input file; refusing to overwrite the checkpoint being converted")
    }
    let format = try detectWeightFileFormat(of: input)
    var store = try loadWeights(from: input)
    if select == nil && stripPrefix == nil {
        store = try store.unwrapped()
    } else {
        if let select { store = try store.selecting(select) }
        if let stripPrefix { store = try store.strippingPrefix(stripPrefix) }
    }
    guard !store.tensors.isEmpty else {
        throw WeightsError.invalidCheckpoint(file: input.path, problem: "no tensors to convert")
    }
    let sourceHash = try SHA256.hexDigest(ofFile: input)
    var metadata = store.metadata
    metadata["format"] = "pt"
    metadata["source"] = input.lastPathComponent
    metadata["source_sha256"] = sourceHash
    metadata["converted_by"] = "carcinoma weights convert"
    for (key, value) in extraMetadata { metadata[key] = value }
    try writeSafetensors(store.tensors, to: output, metadata: metadata)
    let written = store.tensors.values.reduce(0) { $0 + $1.count * ($1.dtype.isFloatingPoint ? 4 : 8) }
    return ConversionReport(input: input.path, output: output.path, format: format, tensorCount: store.tensors.count,
                            writtenByteCount: written, sourceSHA256: sourceHash)
}

/// A plain-text table of a store: name, shape, dtype, element count, bytes on disk; then totals.
public func weightListing(_ store: WeightStore) -> String {
    let rows = store.keys.map { key -> [String] in
        let tensor = store.tensors[key]!
        return [key, "[" + tensor.shape.map(String.init).joined(separator: ", ") + "]", tensor.dtype.rawValue,
                String(tensor.count), String(tensor.count * tensor.dtype.byteCount)]
    }
    let header = ["name", "shape", "dtype", "count", "bytes"]
    var widths = header.map(\.count)
    for row in rows { for (column, cell) in row.enumerated() { widths[column] = max(widths[column], cell.count) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { column, cell in
            let padding = String(repeating: " ", count: widths[column] - cell.count)
            return column >= 3 ? padding + cell : cell + padding // numbers right-aligned
        }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
    }
    var lines = [line(header)]
    lines += rows.map(line)
    let totalCount = store.tensors.values.reduce(0) { $0 + $1.count }
    lines.append("\(rows.count) tensors, \(totalCount) values, \(store.storedByteCount) bytes")
    return lines.joined(separator: "\n") + "\n"
}

/// True when `a` and `b` are (or resolve to) the same file: equal device and inode, or equal
/// paths once symbolic links and `..` are resolved.
public func sameFile(_ a: URL, _ b: URL) -> Bool {
    if a.standardizedFileURL.resolvingSymlinksInPath().path == b.standardizedFileURL.resolvingSymlinksInPath().path { return true }
    guard let first = try? FileManager.default.attributesOfItem(atPath: a.path),
          let second = try? FileManager.default.attributesOfItem(atPath: b.path) else { return false }
    return (first[.systemNumber] as? NSNumber) == (second[.systemNumber] as? NSNumber)
        && (first[.systemFileNumber] as? NSNumber) == (second[.systemFileNumber] as? NSNumber)
        && first[.systemFileNumber] != nil
}
