// A strict, scoped view of a checkpoint's tensors.
//
// Networks ask for torchvision state_dict names by scoping:
//   store.root.scoped("layer1").scoped(0).scoped("conv1").tensor("weight", shape: [64, 64, 1, 1])
// reads "layer1.0.conv1.weight". Every read is recorded, and `checkAllConsumed`
// turns leftovers into an error, so a checkpoint for another architecture never
// half-loads silently.

import Foundation

/// One tensor as stored: shape and Float32 values in row-major order.
public struct WeightTensor: Sendable {
    public var shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.shape = shape
        self.values = values
    }
}

public final class WeightStore: @unchecked Sendable {
    /// Where the tensors came from, for error messages.
    public let source: String
    public let tensors: [String: WeightTensor]
    /// Makes a tensor on demand from its key and shape (deterministic synthetic weights for tests).
    private let generator: (@Sendable (String, [Int]) -> [Float])?
    private var consumed = Set<String>()
    private let lock = NSLock()

    public init(tensors: [String: WeightTensor], source: String) {
        self.tensors = tensors
        self.source = source
        self.generator = nil
    }

    /// A store that answers every request with `generator(key, shape)`.
    public init(source: String, generator: @escaping @Sendable (String, [Int]) -> [Float]) {
        self.tensors = [:]
        self.source = source
        self.generator = generator
    }

    public var root: WeightScope { WeightScope(store: self, prefix: "") }

    public func scoped(_ name: String) -> WeightScope { root.scoped(name) }

    func take(_ key: String, shape: [Int]) throws -> [Float] {
        if let generator, tensors[key] == nil { return generator(key, shape) }
        guard let tensor = tensors[key] else { throw WeightsError.cannotFindTensor(key: key, file: source) }
        guard tensor.shape == shape else {
            throw WeightsError.unexpectedShape(key: key, expected: shape, actual: tensor.shape, file: source)
        }
        lock.lock(); consumed.insert(key); lock.unlock()
        return tensor.values
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

public enum WeightsError: Error, LocalizedError, Equatable {
    case cannotFindTensor(key: String, file: String)
    case unexpectedShape(key: String, expected: [Int], actual: [Int], file: String)
    case unusedTensors(keys: [String], file: String)

    public var errorDescription: String? {
        switch self {
        case let .cannotFindTensor(key, file):
            return "\(file): no tensor named '\(key)' (is this checkpoint for another architecture?)"
        case let .unexpectedShape(key, expected, actual, file):
            return "\(file): tensor '\(key)' has shape \(actual), expected \(expected)"
        case let .unusedTensors(keys, file):
            let shown = keys.prefix(8).joined(separator: ", ")
            return "\(file): \(keys.count) tensor(s) not used by the network: \(shown)\(keys.count > 8 ? ", …" : "")"
        }
    }
}
