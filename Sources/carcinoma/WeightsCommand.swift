// `carcinoma weights convert | list | fetch`: wiring only; the logic is in the Weights library.

import ArgumentParser
import Backbones
import Foundation
import Weights

struct WeightsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weights",
        abstract: "Fetch, convert and inspect pretrained weights.",
        subcommands: [Convert.self, List.self, Fetch.self]
    )

    struct Convert: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Convert a PyTorch checkpoint (zip or legacy .pth) or safetensors file to safetensors.")

        @Argument(help: "Input .pth / .pt / .torch / .safetensors file.") var input: String
        @Argument(help: "Output .safetensors file (written atomically).") var output: String
        @Option(help: "Take the tensors under this dotted key (e.g. state_dict, model).") var select: String?
        @Option(name: .customLong("strip-prefix"), help: "Remove this key prefix (e.g. 'module.').") var stripPrefix: String?

        func run() throws {
            let report = try convertWeights(from: URL(fileURLWithPath: input), to: URL(fileURLWithPath: output),
                                            select: select, stripPrefix: stripPrefix)
            print("\(report.input) (\(report.format.rawValue), SHA-256 \(report.sourceSHA256)) → \(report.output): "
                  + "\(report.tensorCount) tensors, \(report.writtenByteCount) bytes")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a weight file's tensors: name, shape, dtype, count, bytes.")

        @Argument(help: "A .safetensors, .pth or .torch file.") var file: String

        func run() throws {
            let store = try loadWeights(from: URL(fileURLWithPath: file))
            print(weightListing(store), terminator: "")
        }
    }

    struct Fetch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download (or copy) catalogued weights, verify their SHA-256 and convert them to DIR/NAME.safetensors.",
            discussion: "Known names: \(WeightCatalog.names.joined(separator: ", ")).")

        @Argument(help: "Weight set name.") var name: String
        @Option(help: "Fetch from this URL (http, https, file) or path instead of the published location.") var from: String?
        @Option(help: "Folder for downloads and converted files.") var dir: String = "weights"
        @Option(help: "Required SHA-256 of the downloaded file (full or a prefix of 8+ hex digits).") var sha256: String?

        func validate() throws {
            guard WeightCatalog.names.contains(name) else {
                throw ValidationError("unknown weights '\(name)'; known: \(WeightCatalog.names.joined(separator: ", "))")
            }
        }

        func run() throws {
            let fetcher = WeightFetcher(directory: URL(fileURLWithPath: dir)) { message in
                FileHandle.standardError.write(Data((message + "\n").utf8))
            }
            let metadata = WeightSet.named(name)?.fetchMetadata ?? [:]
            let result = try fetcher.fetch(name, from: from, pinnedSHA256: sha256, metadata: metadata)
            print("\(name): \(result.safetensorsFile.path) (\(result.tensorCount) tensors, source SHA-256 \(result.sha256))")
        }
    }
}
