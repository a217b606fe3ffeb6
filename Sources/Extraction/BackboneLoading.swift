// Weight set names → weight files → settled preprocessing → loaded networks, with the message a missing
// file deserves.

import Dispatch
import Foundation
import Backbones
import NeuralKernels
import Weights

/// `--backbone a,b`: weight set names checked against the catalogue, duplicates refused.
public func parseWeightSets(_ text: String) throws -> [WeightSet] {
    let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    guard !parts.isEmpty else { throw ExtractionError.badOption(name: "--backbone", reason: "no backbone named") }
    var sets: [WeightSet] = []
    for part in parts {
        guard let set = WeightSet.named(part) else {
            throw ExtractionError.badOption(name: "--backbone", reason: "unknown backbone '\(part)' (known: \(WeightSet.names.joined(separator: ", ")))")
        }
        guard !sets.contains(set) else { throw ExtractionError.badOption(name: "--backbone", reason: "'\(part)' named twice") }
        sets.append(set)
    }
    return sets
}

/// The weights file for `weightSet`: the explicit one, or else the first default candidate under
/// `weightsDirectory` that exists (`<name>.safetensors`, `<name>.pth`).
public func resolveWeightsFile(for weightSet: WeightSet, explicit: URL?, weightsDirectory: URL) throws -> URL {
    if let explicit {
        guard FileManager.default.fileExists(atPath: explicit.path) else {
            throw ExtractionError.missingWeights(path: explicit.path, backbone: weightSet.name)
        }
        return explicit
    }
    // What `carcinoma weights fetch NAME` writes, then a .pth of the same name.
    let candidates = [WeightCatalog.defaultFile(for: weightSet.name, in: weightsDirectory),
                      weightsDirectory.appendingPathComponent("\(weightSet.name).pth")]
    if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path) }) { return found }
    throw ExtractionError.missingWeights(path: candidates[0].path, backbone: weightSet.name)
}

/// Reads the weights, settles the preprocessing (`settlePreprocessing`), builds the network and hashes the
/// file for the manifest. The hash is computed on another thread while the weights are parsed and folded
/// (both read the file; neither needs the other). `statement` is what `extract --mean/--std/--input-size` say.
public func loadBackbone(_ weightSet: WeightSet, weightsFile: URL, statement: PreprocessingStatement? = nil,
                         threadCount: Int, precision: Precision = .float32) throws -> LoadedBackbone {
    let hashing = Concurrently { try SHA256.hexDigest(ofFile: weightsFile) }
    let store = try loadWeights(from: weightsFile)
    let settled = try settlePreprocessing(weightSet, weightsFile: weightsFile, metadata: store.metadata, statement: statement)
    let backbone = try makeBackbone(settled, weights: store, context: KernelContext(threadCount: max(1, threadCount), precision: precision))
    return LoadedBackbone(backbone: backbone, name: settled.name, preprocessing: settled.preprocessing,
                          weightsFile: weightsFile.lastPathComponent, weightsSHA256: try hashing.value(), precision: precision)
}

/// The preprocessing `weightsFile` is used with under `--backbone weightSet.name`, in order of precedence:
/// the flags (`statement`), the file's JSON sidecar (`sidecarURL`), the weight set's own. A file that says it
/// holds another catalogued set (fetch metadata, or a published file name) is refused unless the user states
/// the preprocessing: its numbers are not the requested set's, and using them silently was the bug this prevents.
public func settlePreprocessing(_ weightSet: WeightSet, weightsFile: URL, metadata: [String: String],
                                statement: PreprocessingStatement?) throws -> WeightSet {
    let sidecar = try readSidecar(for: weightsFile)
    if sidecar == nil, statement?.isEmpty ?? true,
       let held = WeightSet.recognised(fileName: weightsFile.lastPathComponent, metadata: metadata), held.name != weightSet.name {
        throw ExtractionError.otherWeightSet(path: weightsFile.path, holds: held.name, requested: weightSet.name,
                                             sidecar: sidecarURL(for: weightsFile).lastPathComponent)
    }
    var settled = weightSet
    for (statement, origin) in [(sidecar, sidecarURL(for: weightsFile).path), (statement, "--mean/--std/--input-size")] {
        guard let statement else { continue }
        try validate(statement, for: weightSet, origin: origin)
        settled = settled.stating(statement)
    }
    return settled
}

/// `weights/my.safetensors` → `weights/my.json`: the preprocessing of a user's own weights, e.g.
/// `{"mean": [0.7, 0.54, 0.66], "std": [0.22, 0.26, 0.21], "inputSize": 224}` (every key optional; also
/// `architecture` and `transformInput`).
public func sidecarURL(for weightsFile: URL) -> URL {
    weightsFile.deletingPathExtension().appendingPathExtension("json")
}

/// The sidecar's statement, or nil when there is none. Bounded before it is read.
public func readSidecar(for weightsFile: URL) throws -> PreprocessingStatement? {
    let url = sidecarURL(for: weightsFile)
    guard FileManager.default.fileExists(atPath: url.path) else { return nil }
    let limit = 65_536
    let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
    guard size <= limit else {
        throw ExtractionError.badSidecar(path: url.path, reason: "\(size) bytes, more than the \(limit) a preprocessing statement needs")
    }
    let data: Data
    do { data = try Data(contentsOf: url) } catch {
        throw ExtractionError.badSidecar(path: url.path, reason: error.localizedDescription)
    }
    do { return try JSONDecoder().decode(PreprocessingStatement.self, from: data) } catch {
        throw ExtractionError.badSidecar(path: url.path, reason: "not a preprocessing statement ({\"mean\": [r, g, b], \"std\": [r, g, b], \"inputSize\": n}): \(error)")
    }
}

/// The largest `inputSize` a statement may give: the resize view allocates inputSize² pixels per image.
public let maximumStatedInputSize = 4096

func validate(_ statement: PreprocessingStatement, for weightSet: WeightSet, origin: String) throws {
    func bad(_ reason: String) -> ExtractionError { .badSidecar(path: origin, reason: reason) }
    if let architecture = statement.architecture, architecture != weightSet.architecture.rawValue {
        throw bad("states architecture '\(architecture)', but --backbone \(weightSet.name) is a \(weightSet.architecture.rawValue)")
    }
    if let inputSize = statement.inputSize, !(32...maximumStatedInputSize).contains(inputSize) {
        throw bad("inputSize \(inputSize) is not between 32 and \(maximumStatedInputSize)")
    }
    for (key, values) in [("mean", statement.mean), ("std", statement.std)] {
        guard let values else { continue }
        guard values.count == 3, values.allSatisfy(\.isFinite) else { throw bad("\(key) must be 3 finite numbers (R, G, B), got \(values)") }
        if key == "std", !values.allSatisfy({ $0 > 0 }) { throw bad("std must be positive, got \(values)") }
    }
}

/// `--mean 0.7,0.54,0.66`: three comma-separated numbers (nil when the flag is absent).
public func parseChannelValues(_ text: String?, flag: String) throws -> [Float]? {
    guard let text else { return nil }
    let values = text.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
    guard values.count == 3, values.allSatisfy({ $0 != nil }) else {
        throw ExtractionError.badOption(name: flag, reason: "'\(text)': expected three comma-separated numbers (R,G,B)")
    }
    return values.compactMap { $0 }
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
