// The one error type of the Weights module. Every case names the file (or URL) it is about
// and says what is wrong with it, so a bad download or a foreign checkpoint is diagnosable
// from the message alone.

import Foundation

public enum WeightsError: Error, LocalizedError, Equatable {
    case cannotFindTensor(key: String, file: String)
    case unexpectedShape(key: String, expected: [Int], actual: [Int], file: String)
    case unusedTensors(keys: [String], file: String)
    /// The file cannot be opened, read or written.
    case fileAccess(file: String, problem: String)
    /// Neither safetensors, a zip checkpoint nor a legacy torch pickle.
    case unknownFormat(file: String, problem: String)
    /// A safetensors file whose header or layout breaks the format.
    case invalidSafetensors(file: String, problem: String)
    /// A pickle that is truncated, malformed or exceeds a safety limit; `offset` is the byte offset.
    case invalidPickle(file: String, offset: Int, problem: String)
    /// A pickle that names a global outside the allow-list; nothing was executed.
    case disallowedGlobal(file: String, module: String, name: String)
    /// A torch checkpoint whose container or storages are inconsistent.
    case invalidCheckpoint(file: String, problem: String)
    case unsupportedDType(file: String, key: String, dtype: String)
    /// A tensor the network reads holds NaN, an infinity or a negative variance.
    case invalidValue(key: String, file: String, problem: String)
    case noSuchSubDictionary(path: String, available: [String], file: String)
    case duplicateKey(key: String, file: String)
    case hashMismatch(file: String, expected: String, actual: String)
    case unknownWeights(name: String, known: [String])
    case downloadFailed(url: String, problem: String)

    public var errorDescription: String? {
        switch self {
        case let .cannotFindTensor(key, file):
            return "\(file): no tensor named '\(key)' (is this checkpoint for another architecture?)"
        case let .unexpectedShape(key, expected, actual, file):
            return "\(file): tensor '\(key)' has shape \(actual), expected \(expected)"
        case let .unusedTensors(keys, file):
            let shown = keys.prefix(8).joined(separator: ", ")
            return "\(file): \(keys.count) tensor(s) not used by the network: \(shown)\(keys.count > 8 ? ", …" : "")"
        case let .fileAccess(file, problem):
            return "\(file): \(problem)"
        case let .unknownFormat(file, problem):
            return "\(file): not a safetensors file or PyTorch checkpoint: \(problem)"
        case let .invalidSafetensors(file, problem):
            return "\(file): invalid safetensors file: \(problem)"
        case let .invalidPickle(file, offset, problem):
            return "\(file): invalid pickle at byte \(offset): \(problem)"
        case let .disallowedGlobal(file, module, name):
            return "\(file): refusing pickle global '\(module).\(name)': only tensors, storages and "
                + "collections.OrderedDict may be loaded (nothing was executed)"
        case let .invalidCheckpoint(file, problem):
            return "\(file): invalid PyTorch checkpoint: \(problem)"
        case let .unsupportedDType(file, key, dtype):
            return "\(file): tensor '\(key)' has unsupported dtype \(dtype)"
        case let .invalidValue(key, file, problem):
            return "\(file): tensor '\(key)': \(problem)"
        case let .noSuchSubDictionary(path, available, file):
            return "\(file): no tensors under '\(path)'; top-level names are: \(available.prefix(12).joined(separator: ", "))"
        case let .duplicateKey(key, file):
            return "\(file): key '\(key)' occurs twice after stripping the prefix"
        case let .hashMismatch(file, expected, actual):
            return "\(file): SHA-256 mismatch: expected \(expected)…, got \(actual) (corrupt or wrong download; it was not used)"
        case let .unknownWeights(name, known):
            return "unknown weights '\(name)'; known: \(known.joined(separator: ", "))"
        case let .downloadFailed(url, problem):
            return "\(url): download failed: \(problem)"
        }
    }
}
