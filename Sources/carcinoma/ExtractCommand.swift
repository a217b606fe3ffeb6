// `carcinoma extract`: wiring only; the work is in Extraction.

import ArgumentParser
import Backbones
import Extraction
import FeatureStore
import Foundation
import NeuralKernels

struct ExtractCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extract",
        abstract: "Embed a folder of images with one or more frozen backbones into the feature cache.",
        discussion: """
        Writes <out>/<backbone>-<view>[-d4].npy (float32 [images, width], numpy-readable) and a .json \
        manifest beside it. A second run reuses every row that is still valid and re-extracts the rest; \
        a killed run resumes from the rows it had finished. Exit status 1 when any image failed.
        """)

    @Option(help: "Folder of PNG/JPEG images (the image id is the file name without extension).")
    var images: String
    @Option(help: "Weight set name, or several separated by commas (\(WeightSet.names.joined(separator: ", "))); `carcinoma backbones` lists each one's architecture and preprocessing.")
    var backbone: String
    @Option(help: "Weights file (.safetensors or .pth), or one per backbone separated by commas. Default: <weights-dir>/<backbone>.safetensors or .pth.")
    var weights: String?
    @Option(help: "Folder holding the default weights files.")
    var weightsDir: String = "weights"
    @Option(help: "Per-channel mean R,G,B (on [0, 1]) the --weights file was trained with; default: a JSON sidecar beside the file (FILE.json), else the weight set's. One backbone only.")
    var mean: String?
    @Option(help: "Per-channel std R,G,B, as --mean.")
    var std: String?
    @Option(parsing: .unconditional, help: "Input size (the resize view's side) the --weights file was trained at, as --mean.")
    var inputSize: Int?
    @Option(help: "resize | pad | native | tiles")
    var view: ViewKind
    @Option(help: "Test-time augmentation: d4 averages the 8 rotations and flips (stored as its own file).")
    var tta: TestTimeAugmentation?
    @Option(parsing: .unconditional, help: "Tile stride in pixels (tiles view; default half the backbone input size).")
    var tileStride: Int?
    @Option(help: "Tile pooling: mean | mean+max (tiles view).")
    var tilePool: TilePooling = .mean
    @Option(help: "Drop tiles with a smaller tissue fraction, falling back to all tiles when none pass (tiles view).")
    var minTissue: Double = 0
    @Option(help: "final: the last feature map, pooled | stages: every stage's output pooled, each block L2-normalised, concatenated (blocks named in the manifest; file <backbone>-<view>[-d4]-stages) | stages-raw: the same blocks without the normalisation.")
    var pooling: EmbeddingPooling = .final
    @Option(parsing: .unconditional, help: "Extract shard i of n (0-based, every n-th image), e.g. 0/4.")
    var shard: String?
    @Option(help: "Cache folder (default features/<dataset>, or features/<dataset>/shard-i-of-n with --shard).")
    var out: String?
    @Flag(help: "Re-extract everything, ignoring cached rows.")
    var overwrite = false
    @Flag(help: "Wait for another run holding the cache folder instead of refusing.")
    var wait = false
    @Flag(help: "No progress output.")
    var quiet = false
    @Flag(help: "Print the per-backbone summaries as JSON on stdout.")
    var json = false
    @Option(parsing: .unconditional, help: "Images per batch (images of equal size only; 1-\(CountLimits.batch.upperBound)).")
    var batch: Int = 8
    @Option(parsing: .unconditional, help: "Threads for the network kernels (1-\(CountLimits.threads.upperBound)).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "The convolutions' arithmetic: fp32 (default) | bf16 (bfloat16 on Intel AMX, about twice as fast, or on AVX512-BF16, about 1.1x; embeddings within a cosine of ~0.9997) | bf16x3 (three bfloat16 products per float32 one, cosine > 0.99999). Not fp32: a cache of its own, <backbone>-<view>[...]-<precision>.")
    var precision: Precision = .float32

    func validate() throws {
        if let reason = precision.unsupportedReason { throw ValidationError(reason) }
        try checkCount(batch, "--batch", CountLimits.batch)
        try checkCount(threads, "--threads", CountLimits.threads)
        if let tileStride { try checkCount(tileStride, "--tile-stride", CountLimits.tileStride) }
        guard (0...1).contains(minTissue) else { throw ValidationError("--min-tissue must be between 0 and 1") }
    }

    func run() throws {
        let imagesURL = URL(fileURLWithPath: images).standardizedFileURL
        let dataset = imagesURL.lastPathComponent
        let names = try parseWeightSets(backbone)
        let statement = PreprocessingStatement(inputSize: inputSize, mean: try parseChannelValues(mean, flag: "--mean"),
                                               std: try parseChannelValues(std, flag: "--std"))
        if !statement.isEmpty, names.count != 1 {
            throw ValidationError("--mean, --std and --input-size state one weights file's preprocessing: name one backbone")
        }
        let shard = try self.shard.map(Shard.init(parsing:))
        var output = URL(fileURLWithPath: out ?? "features/\(dataset)")
        if out == nil, let shard { output = output.appendingPathComponent(shard.folderName) }

        // Every weights file is found before any work starts.
        let explicit = weights.map { $0.split(separator: ",").map { URL(fileURLWithPath: String($0)) } }
        if let explicit, explicit.count != names.count {
            throw ValidationError("--weights names \(explicit.count) file(s) for \(names.count) backbone(s)")
        }
        let weightFiles = try names.enumerated().map { index, name in
            try resolveWeightsFile(for: name, explicit: explicit?[index], weightsDirectory: URL(fileURLWithPath: weightsDir))
        }

        let listing = try listImages(in: imagesURL)
        let selected = shard.map { $0.select(listing.images) } ?? listing.images
        guard !selected.isEmpty || !listing.rejected.isEmpty else {
            throw listing.images.isEmpty ? ExtractionError.noImages(path: imagesURL.path)
                : ExtractionError.badOption(name: "--shard", reason: "shard \(shard?.description ?? "") selects no image of \(listing.images.count)")
        }
        try Extractor.prepareOutput(output)
        let hashed = hashImages(selected)       // an unreadable image is a failure of its own, not of the run
        let hashes = hashed.hashes
        let settings = ExtractionSettings(
            view: ViewOptions(kind: view, tileStride: tileStride, tilePooling: tilePool, minimumTissueFraction: minTissue),
            tta: tta, batchSize: batch, overwrite: overwrite, waitForLock: wait, toolVersion: toolVersion, pooling: pooling)
        let extractor = Extractor(images: hashed.images, rejected: listing.rejected + hashed.rejected, dataset: dataset, output: output, settings: settings)

        var summaries: [ExtractionSummary] = []
        let printer = ProgressPrinter(enabled: !quiet)
        for (name, weightsFile) in zip(names, weightFiles) {
            let loaded = try loadBackbone(name, weightsFile: weightsFile, statement: statement.isEmpty ? nil : statement,
                                          threadCount: threads, precision: precision)
            let summary = try extractor.run(loaded, hashes: hashes, progress: printer.update)
            printer.finish()
            summaries.append(summary)
            if !quiet {
                let state = summary.upToDate ? "up to date" : "\(summary.extracted) extracted, \(summary.reused) reused"
                standardError("\(summary.name): \(summary.images) images, \(state), \(summary.failures.count) failed, "
                              + String(format: "%.1f s", summary.seconds) + " → \(summary.output)\n")
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(summaries), as: UTF8.self))
        }
        var failed: [String: String] = [:]
        for summary in summaries { for failure in summary.failures { failed[failure.path] = failure.reason } }
        if !failed.isEmpty {
            standardError("\(failed.count) image(s) failed (the cache holds only the others):\n")
            for path in failed.keys.sorted() { standardError("  \(path): \(failed[path] ?? "")\n") }
            throw ExitCode(1)
        }
    }
}

extension ViewKind: ExpressibleByArgument {}
extension TilePooling: ExpressibleByArgument {}
extension TestTimeAugmentation: ExpressibleByArgument {}
extension EmbeddingPooling: ExpressibleByArgument {}
extension Precision: ExpressibleByArgument {}

/// Progress on stderr: one rewritten line on a terminal, a line every 10% otherwise.
final class ProgressPrinter {
    let enabled: Bool
    let terminal = isatty(STDERR_FILENO) != 0
    var lastDecile = -1
    var wroteLine = false

    init(enabled: Bool) { self.enabled = enabled }

    func update(_ progress: ExtractionProgress) {
        guard enabled, progress.total > 0 else { return }
        let eta = progress.etaSeconds.map { String(format: "ETA %d:%02d", Int($0) / 60, Int($0) % 60) } ?? "ETA --"
        let line = String(format: "%@: %d/%d images, %.2f img/s, %@", progress.name, progress.done, progress.total,
                          progress.imagesPerSecond, eta)
        if terminal {
            standardError("\r\u{1B}[K" + line)
            wroteLine = true
        } else {
            let decile = progress.done * 10 / progress.total
            if decile != lastDecile { lastDecile = decile; standardError(line + "\n") }
        }
    }

    func finish() {
        if wroteLine { standardError("\n") }
        wroteLine = false
        lastDecile = -1
    }
}

func standardError(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
}
