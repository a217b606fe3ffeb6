// Backbone names → weight files → loaded networks, with the message a missing file deserves.

import Dispatch
import Foundation
import Backbones
import NeuralKernels
import Weights

/// `--backbone a,b`: names checked against the registry, duplicates refused.
public func parseBackboneNames(_ text: String) throws -> [BackboneName] {
    let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    guard !parts.isEmpty else { throw ExtractionError.badOption(name: "--backbone", reason: "no backbone named") }
    var names: [BackboneName] = []
    for part in parts {
        guard let name = BackboneName(rawValue: part) else {
            let known = BackboneName.allCases.map(\.rawValue).joined(separator: ", ")
            throw ExtractionError.badOption(name: "--backbone", reason: "unknown backbone '\(part)' (known: \(known))")
        }
        guard !names.contains(name) else { throw ExtractionError.badOption(name: "--backbone", reason: "'\(part)' named twice") }
        names.append(name)
    }
    return names
}

/// The weights file for `name`: the explicit one, or else the first default candidate under
/// `weightsDirectory` that exists (`<name>.safetensors`, `<name>.pth`).
public func resolveWeightsFile(for name: BackboneName, explicit: URL?, weightsDirectory: URL) throws -> URL {
    if let explicit {
        guard FileManager.default.fileExists(atPath: explicit.path) else {
            throw ExtractionError.missingWeights(path: explicit.path, backbone: name.rawValue)
        }
        return explicit
    }
    // What `carcinoma weights fetch NAME` writes, then a .pth of the same name.
    let candidates = [WeightCatalog.defaultFile(for: name.rawValue, in: weightsDirectory),
                      weightsDirectory.appendingPathComponent("\(name.rawValue).pth")]
    if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path) }) { return found }
    throw ExtractionError.missingWeights(path: candidates[0].path, backbone: name.rawValue)
}

/// Reads the weights, builds the network and hashes the file for the manifest. The hash is computed on
/// another thread while the weights are parsed and folded (both read the file; neither needs the other).
public func loadBackbone(_ name: BackboneName, weightsFile: URL, threadCount: Int) throws -> LoadedBackbone {
    let hashing = Concurrently { try SHA256.hexDigest(ofFile: weightsFile) }
    let store = try loadWeights(from: weightsFile)
    let backbone = try makeBackbone(name, weights: store, context: KernelContext(threadCount: max(1, threadCount)))
    return LoadedBackbone(backbone: backbone, weightsFile: weightsFile.lastPathComponent, weightsSHA256: try hashing.value())
}

/// Runs `work` on a global queue as soon as it is made; `value()` waits for its result or error.
final class Concurrently<Value: Sendable>: @unchecked Sendable {
    private let done = DispatchGroup()
    private var result: Result<Value, Error>?   // written once, before `done` is left; read after waiting

    init(_ work: @escaping @Sendable () throws -> Value) {
        done.enter()
        DispatchQueue.global().async {
            self.result = Result(catching: work)
            self.done.leave()
        }
    }

    func value() throws -> Value {
        done.wait()
        guard let result else { preconditionFailure("Concurrently: finished without a result") }
        return try result.get()
    }
}
