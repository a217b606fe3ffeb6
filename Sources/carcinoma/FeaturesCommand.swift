// `carcinoma features merge`: wiring only; the work is in FeatureStore.

import ArgumentParser
import FeatureStore
import Foundation

struct FeaturesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "features",
        abstract: "Work with feature caches.",
        subcommands: [Merge.self])

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Join shard caches (from extract --shard i/n) into one cache after checking their manifests agree.")

        @Argument(help: "Shard cache folders.")
        var shards: [String]
        @Option(help: "Merged cache folder.")
        var out: String

        func validate() throws {
            guard !shards.isEmpty else { throw ValidationError("name at least one shard folder") }
        }

        func run() throws {
            let output = URL(fileURLWithPath: out)
            let lock = try CacheLock(directory: output.creatingDirectory())
            defer { lock.release() }
            let report = try mergeShards(shards.map { URL(fileURLWithPath: $0) }, into: output)
            for name in report.variants {
                print("\(name): \(report.rowCount[name] ?? 0) rows → \(output.appendingPathComponent(name + ".npy").path)")
            }
        }
    }
}

extension URL {
    /// Creates the folder (and parents) and returns it; the error names the folder.
    func creatingDirectory() throws -> URL {
        do { try FileManager.default.createDirectory(at: self, withIntermediateDirectories: true) } catch {
            throw FeatureStoreError.cannotWrite(file: path, reason: error.localizedDescription)
        }
        return self
    }
}
