// One entry point for every weight file: the format is decided from the content, not the name.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum WeightFileFormat: String, Sendable {
    case safetensors
    /// torch.save since 1.6: a zip archive with data.pkl and data/<key> entries.
    case torchZip = "torch-zip"
    /// torch.save(..., _use_new_zipfile_serialization=False): pickles and raw storages back to back.
    case torchLegacy = "torch-legacy"
}

/// The format of the file at `url`, from its first bytes.
public func detectWeightFileFormat(of url: URL) throws -> WeightFileFormat {
    let data = try mappedContents(of: url)
    return try detectFormat(data, file: url.path, pathExtension: url.pathExtension)
}

/// Why `path` is not a regular file (following symbolic links), or nil when it is one. Uses
/// stat(2), which never blocks: a FIFO would block open(2) until a writer came, and a device such
/// as /dev/zero would be read forever.
public func regularFileProblem(_ path: String) -> String? {
    var status = stat()
    guard stat(path, &status) == 0 else {
        let code = errno
        return code == ENOENT ? "no such file" : "cannot read (\(String(cString: strerror(code))))"
    }
    switch status.st_mode & S_IFMT {
    case S_IFREG: return nil
    case S_IFDIR: return "is a directory, not a file"
    case S_IFIFO: return "is a named pipe (FIFO), not a regular file"
    case S_IFCHR, S_IFBLK: return "is a device, not a regular file"
    case S_IFSOCK: return "is a socket, not a regular file"
    default: return "is not a regular file"
    }
}

func mappedContents(of url: URL) throws -> Data {
    if let problem = regularFileProblem(url.path) { throw WeightsError.fileAccess(file: url.path, problem: problem) }
    do {
        return try Data(contentsOf: url, options: .alwaysMapped)
    } catch {
        throw WeightsError.fileAccess(file: url.path, problem: "cannot read (\(error.localizedDescription))")
    }
}

func detectFormat(_ data: Data, file: String, pathExtension: String) throws -> WeightFileFormat {
    guard !data.isEmpty else { throw WeightsError.unknownFormat(file: file, problem: "the file is empty") }
    let head = [UInt8](data.prefix(512))
    if pathExtension.lowercased() == "safetensors" || Safetensors.looksLikeSafetensors(data) { return .safetensors }
    if head.count >= 4, head[0] == 0x50, head[1] == 0x4B, head[2] == 0x03 || head[2] == 0x05 { return .torchZip }
    if head.count >= 262, String(decoding: head[257..<262], as: UTF8.self) == "ustar" {
        throw WeightsError.unknownFormat(file: file, problem: "a tar checkpoint from torch < 0.4, which is not supported")
    }
    if head[0] == 0x80 { return .torchLegacy } // pickle PROTO opcode
    let shown = head.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
    throw WeightsError.unknownFormat(file: file, problem: "unrecognised first bytes \(shown)")
}

/// Reads a safetensors file, a zip-format torch checkpoint or a legacy torch checkpoint.
/// Nested dicts come back flattened with dotted keys; see `WeightStore.unwrapped()`.
public func loadWeights(from url: URL) throws -> WeightStore {
    let data = try mappedContents(of: url)
    switch try detectFormat(data, file: url.path, pathExtension: url.pathExtension) {
    case .safetensors: return try Safetensors.read(data: data, file: url.path)
    case .torchZip: return try TorchCheckpoint.loadZip(url: url, data: data, file: url.path)
    case .torchLegacy: return try TorchCheckpoint.loadLegacy(data: data, file: url.path)
    }
}
