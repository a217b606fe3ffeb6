// A strict, scoped view of a checkpoint's tensors.
//
// Networks ask for torchvision state_dict names by scoping:
//   store.root.scoped("layer1").scoped(0).scoped("conv1").tensor("weight", shape: [64, 64, 1, 1])
// reads "layer1.0.conv1.weight". Every read is recorded, and `checkAllConsumed`
// turns leftovers into an error, so a checkpoint for another architecture never
// half-loads silently.
//
// Checkpoints that wrap the state dict ({'state_dict': ...}, {'model': ...}) or prefix
// it ('module.' from DataParallel) are flattened with dotted keys when read; `selecting`,
// `strippingPrefix` and `unwrapped` turn them back into plain torchvision names.

import Foundation

/// Element type a tensor had on disk (values are always held as Float32).
public enum WeightDType: String, Sendable, CaseIterable, Codable {
    case float64, float32, float16, bfloat16, int64, int32, int16, int8, uint8, bool

    /// Bytes per element on disk.
    public var byteCount: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }

    /// The safetensors spelling ("F32", "BF16", ...).
    public var safetensorsName: String {
        switch self {
        case .float64: return "F64"
        case .float32: return "F32"
        case .float16: return "F16"
        case .bfloat16: return "BF16"
        case .int64: return "I64"
        case .int32: return "I32"
        case .int16: return "I16"
        case .int8: return "I8"
        case .uint8: return "U8"
        case .bool: return "BOOL"
        }
    }

    public init?(safetensorsName: String) {
        guard let match = WeightDType.allCases.first(where: { $0.safetensorsName == safetensorsName }) else { return nil }
        self = match
    }

    /// The dtype of a legacy torch storage class name ("FloatStorage", "HalfStorage", ...).
    public init?(torchStorageName: String) {
        switch torchStorageName {
        case "DoubleStorage": self = .float64
        case "FloatStorage": self = .float32
        case "HalfStorage": self = .float16
        case "BFloat16Storage": self = .bfloat16
        case "LongStorage": self = .int64
        case "IntStorage": self = .int32
        case "ShortStorage": self = .int16
        case "CharStorage": self = .int8
        case "ByteStorage", "UntypedStorage": self = .uint8
        case "BoolStorage": self = .bool
        default: return nil
        }
    }

    public var isFloatingPoint: Bool {
        switch self {
        case .float64, .float32, .float16, .bfloat16: return true
        default: return false
        }
    }
}

/// One tensor as stored: shape and Float32 values in row-major order, plus the dtype it had on disk.
public struct WeightTensor: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Float]
    public var dtype: WeightDType

    public init(shape: [Int], values: [Float], dtype: WeightDType = .float32) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.shape = shape
        self.values = values
        self.dtype = dtype
    }

    public var count: Int { values.count }
}

public final class WeightStore: @unchecked Sendable {
    /// Where the tensors came from, for error messages.
    public let source: String
    public let tensors: [String: WeightTensor]
    /// File-level metadata (safetensors `__metadata__`), empty for checkpoints.
    public let metadata: [String: String]
    /// Makes a tensor on demand from its key and shape (deterministic synthetic weights for tests).
    private let generator: (@Sendable (String, [Int]) -> [Float])?
    private var consumed = Set<String>()
    private let lock = NSLock()

    public init(tensors: [String: WeightTensor], source: String, metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.source = source
        self.metadata = metadata
        self.generator = nil
    }

    /// A store that answers every request with `generator(key, shape)`.
    public init(source: String, generator: @escaping @Sendable (String, [Int]) -> [Float]) {
        self.tensors = [:]
        self.source = source
        self.metadata = [:]
        self.generator = generator
    }

    public var root: WeightScope { WeightScope(store: self, prefix: "") }

    public func scoped(_ name: String) -> WeightScope { root.scoped(name) }

    /// Keys in sorted order.
    public var keys: [String] { tensors.keys.sorted() }

    func take(_ key: String, shape: [Int]) throws -> [Float] {
        if let generator, tensors[key] == nil { return generator(key, shape) }
        guard let tensor = tensors[key] else { throw WeightsError.cannotFindTensor(key: key, file: source) }
        guard tensor.shape == shape else {
            throw WeightsError.unexpectedShape(key: key, expected: shape, actual: tensor.shape, file: source)
        }
        try WeightStore.checkValues(tensor.values, key: key, file: source)
        lock.lock(); consumed.insert(key); lock.unlock()
        return tensor.values
    }

    /// Weights a network reads must be finite, and batch-norm variances not negative: otherwise
    /// every image would later fail with "embedding contains NaN" and the tensor never be named.
    static func checkValues(_ values: [Float], key: String, file: String) throws {
        if let index = values.firstIndex(where: { !$0.isFinite }) {
            throw WeightsError.invalidValue(key: key, file: file, problem: "element \(index) is \(values[index]) (weights must be finite)")
        }
        if key.hasSuffix("running_var"), let index = values.firstIndex(where: { $0 < 0 }) {
            throw WeightsError.invalidValue(key: key, file: file, problem: "variance \(index) is \(values[index]) (variances cannot be negative)")
        }
    }

    func contains(_ key: String) -> Bool { generator != nil || tensors[key] != nil }

    /// Throws unless every tensor was read, except keys that contain one of `allowed`
    /// as a dotted component prefix (e.g. "num_batches_tracked", "fc", "AuxLogits").
    public func checkAllConsumed(allowing allowed: [String] = ["num_batches_tracked"]) throws {
        lock.lock(); defer { lock.unlock() }
        let leftovers = tensors.keys.filter { key in
            guard !consumed.contains(key) else { return false }
            let parts = key.split(separator: ".").map(String.init)
            return !allowed.contains { allowedName in
                parts.contains(allowedName) || key.hasPrefix(allowedName + ".") || key == allowedName
            }
        }.sorted()
        if !leftovers.isEmpty { throw WeightsError.unusedTensors(keys: leftovers, file: source) }
    }

    // MARK: Nested and prefixed checkpoints

    /// The tensors under `path` (a dotted key such as "state_dict" or "model.backbone"),
    /// with that prefix removed. Throws when nothing lives there.
    public func selecting(_ path: String) throws -> WeightStore {
        let prefix = path + "."
        var selected: [String: WeightTensor] = [:]
        for (key, tensor) in tensors where key.hasPrefix(prefix) {
            selected[String(key.dropFirst(prefix.count))] = tensor
        }
        guard !selected.isEmpty else {
            throw WeightsError.noSuchSubDictionary(path: path, available: topLevelNames, file: source)
        }
        return WeightStore(tensors: selected, source: "\(source)[\(path)]", metadata: metadata)
    }

    /// Removes `prefix` (e.g. "module.") from every key that starts with it; other keys are kept.
    public func strippingPrefix(_ prefix: String) throws -> WeightStore {
        var result: [String: WeightTensor] = [:]
        for (key, tensor) in tensors {
            let stripped = key.hasPrefix(prefix) ? String(key.dropFirst(prefix.count)) : key
            if result[stripped] != nil {
                throw WeightsError.duplicateKey(key: stripped, file: source)
            }
            result[stripped] = tensor
        }
        return WeightStore(tensors: result, source: source, metadata: metadata)
    }

    /// The usual wrappers undone: selects "state_dict" when present, else "model" when every
    /// key lives under it, then strips "module." when every key has it. A flat torchvision
    /// state dict comes back unchanged.
    public func unwrapped() throws -> WeightStore {
        var store = self
        let names = Set(topLevelNames)
        if names.contains("state_dict") {
            store = try store.selecting("state_dict")
        } else if names == ["model"] {
            store = try store.selecting("model")
        }
        if !store.tensors.isEmpty, store.tensors.keys.allSatisfy({ $0.hasPrefix("module.") }) {
            store = try store.strippingPrefix("module.")
        }
        return store
    }

    /// First dotted components of the keys, sorted.
    public var topLevelNames: [String] {
        Set(tensors.keys.map { key in key.split(separator: ".", maxSplits: 1).first.map(String.init) ?? key }).sorted()
    }

    /// Total bytes the tensors take on disk in their stored dtypes.
    public var storedByteCount: Int {
        tensors.values.reduce(0) { $0 + $1.count * $1.dtype.byteCount }
    }
}

/// A prefix into a `WeightStore`.
public struct WeightScope: Sendable {
    public let store: WeightStore
    public let prefix: String

    public func scoped(_ name: String) -> WeightScope {
        WeightScope(store: store, prefix: prefix.isEmpty ? name : prefix + "." + name)
    }

    public func scoped(_ index: Int) -> WeightScope { scoped(String(index)) }

    public func key(_ name: String) -> String { prefix.isEmpty ? name : prefix + "." + name }

    /// Reads `prefix.name`, checking its shape.
    public func tensor(_ name: String, shape: [Int]) throws -> [Float] {
        try store.take(key(name), shape: shape)
    }

    public func contains(_ name: String) -> Bool { store.contains(key(name)) }
}
