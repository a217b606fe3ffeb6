// Turns decoded images into one embedding row each: views → (TTA) → batches of equal size
// → backbone → TTA mean → tile pooling.
//
// Only images of exactly equal size share a batch: padding different sizes into one batch
// would change their embeddings. Each batch is a plain N x 3 x H x W tensor, and every
// kernel computes each sample independently, so a row does not depend on the batch size
// or on which other images were in its batch.

import Foundation
import Backbones
import Imaging
import NeuralKernels

/// What of the network a row holds.
public enum EmbeddingPooling: String, CaseIterable, Sendable {
    /// The final feature map, globally average-pooled (the backbone's `embed`).
    case final
    /// Every stage's output globally average-pooled (`Backbone.embedStages`); after the views and TTA
    /// are pooled, each block is scaled to unit L2 norm (each half of a mean+max row on its own), so
    /// wide late stages do not outweigh narrow early ones. Blocks and widths go into the manifest.
    case stages
    /// As `stages` without the L2 normalisation: the blocks as pooled. On OxML the norm of a block
    /// carries class information (scaling every row to unit length cost the SVM head 0.07 macro F1 on
    /// the final Lite0 embedding in scikit-learn), and every head standardises its columns anyway.
    case stagesRaw = "stages-raw"

    var isStages: Bool { self != .final }
}

public struct Embedder {
    public let backbone: any Backbone
    /// The weight set's: how each view's pixels are normalised before `backbone`.
    public let preprocessing: Preprocessing
    public let view: ViewOptions
    public let tta: TestTimeAugmentation?
    public let batchSize: Int
    public let pooling: EmbeddingPooling

    public init(backbone: any Backbone, preprocessing: Preprocessing, view: ViewOptions, tta: TestTimeAugmentation?,
                batchSize: Int, pooling: EmbeddingPooling = .final) {
        precondition(batchSize >= 1, "batchSize must be at least 1")
        self.backbone = backbone
        self.preprocessing = preprocessing
        self.view = view
        self.tta = tta
        self.batchSize = batchSize
        self.pooling = pooling
    }

    /// Width of one network output: the final embedding, or every stage side by side.
    public var embeddingWidth: Int {
        pooling.isStages ? backbone.stageBlocks.reduce(0) { $0 + $1.width } : backbone.embeddingWidth
    }

    public var rowWidth: Int { view.rowWidth(embeddingWidth: embeddingWidth) }

    /// The row's named blocks (nil for the final embedding alone); mean+max rows name `mean:` and `max:` halves.
    public var blocks: [(name: String, width: Int)]? {
        guard pooling.isStages else { return nil }
        let stages = backbone.stageBlocks.map { (name: $0.name, width: $0.width) }
        guard view.kind == .tiles && view.tilePooling == .meanMax else { return stages }
        return stages.map { (name: "mean:" + $0.name, width: $0.width) } + stages.map { (name: "max:" + $0.name, width: $0.width) }
    }

    /// One network input: view `viewIndex` of image `slot`, under `transform`.
    struct Input {
        var slot: Int
        var viewIndex: Int
        var transform: DihedralTransform?
        var width: Int
        var height: Int
    }

    /// Embeds `images`, calling `finished(slot, row)` as soon as an image's last input is done
    /// (so the caller can save it before the rest of the window runs).
    public func embed(_ images: [RGBImage], finished: (Int, [Float]) throws -> Void) throws {
        let width = embeddingWidth
        let transforms: [DihedralTransform?] = tta.map { $0.transforms.map { Optional($0) } } ?? [nil]
        var views: [ViewPlan] = []
        var inputs: [Input] = []
        var pending: [Int] = []
        for (slot, image) in images.enumerated() {
            // Tiles are cropped when their batch runs, not here: a window holds their origins only.
            let plan = view.plan(of: image, inputSize: preprocessing.inputSize)
            views.append(plan)
            pending.append(plan.count * transforms.count)
            for viewIndex in 0..<plan.count {
                let viewImage = plan.size(viewIndex)
                for transform in transforms {
                    let swaps = transform?.swapsAxes ?? false
                    inputs.append(Input(slot: slot, viewIndex: viewIndex, transform: transform,
                                        width: swaps ? viewImage.height : viewImage.width,
                                        height: swaps ? viewImage.width : viewImage.height))
                }
            }
        }
        // Sum over transforms of each view's embedding, per image.
        var sums = views.map { [[Float]](repeating: [Float](repeating: 0, count: width), count: $0.count) }

        // Group by input size, keeping first-seen order, then run fixed-size batches.
        var groupOrder: [[Int]] = []
        var groupIndex: [[Int]: Int] = [:]
        var groups: [[Input]] = []
        for input in inputs {
            let key = [input.height, input.width]
            if let index = groupIndex[key] { groups[index].append(input) } else {
                groupIndex[key] = groups.count
                groupOrder.append(key)
                groups.append([input])
            }
        }
        // A batch holds at most the native pixel limit of inputs (one input at least): the
        // activations of a native pass grow with its pixels.
        let pixelsInFlight = ViewLimits.current.nativePixels
        for group in groups {
            var start = 0
            let fit = max(1, pixelsInFlight / max(1, group[0].height * group[0].width))
            while start < group.count {
                let batch = Array(group[start..<min(start + min(batchSize, fit), group.count)])
                start += batch.count
                let height = batch[0].height, inputWidth = batch[0].width
                var storage: [Float] = []
                storage.reserveCapacity(batch.count * 3 * height * inputWidth)
                for input in batch {
                    var image = views[input.slot].image(input.viewIndex)
                    if let transform = input.transform { image = Imaging.transform(image, transform) }
                    storage += normalizedPlanes(image, mean: preprocessing.mean, std: preprocessing.std)
                }
                // N x 3 x H x W → N x width x 1 x 1
                let input = Tensor(shape: [batch.count, 3, height, inputWidth], storage: storage)
                let output = pooling.isStages ? backbone.embedStages(input) : backbone.embed(input)
                precondition(output.count == batch.count * width, "\(backbone.name) returned \(output.shape), expected \(batch.count) x \(width)")
                for (offset, input) in batch.enumerated() {
                    for channel in 0..<width { sums[input.slot][input.viewIndex][channel] += output.storage[offset * width + channel] }
                    pending[input.slot] -= 1
                    if pending[input.slot] == 0 {
                        try finished(input.slot, pool(sums[input.slot], transformCount: transforms.count))
                    }
                }
            }
        }
    }

    /// TTA mean per view, then mean (and max) over views.
    func pool(_ viewSums: [[Float]], transformCount: Int) -> [Float] {
        let row = poolViews(viewSums, transformCount: transformCount)
        guard pooling == .stages, let blocks else { return row }
        return normalizingBlocks(row, widths: blocks.map(\.width))
    }

    func poolViews(_ viewSums: [[Float]], transformCount: Int) -> [Float] {
        let width = embeddingWidth
        let scale = 1 / Float(transformCount)
        var mean = [Float](repeating: 0, count: width)
        var maximum = [Float](repeating: -.infinity, count: width)
        for sum in viewSums {
            for channel in 0..<width {
                let value = sum[channel] * scale
                mean[channel] += value
                maximum[channel] = max(maximum[channel], value)
            }
        }
        let viewCount = Float(viewSums.count)
        for channel in 0..<width { mean[channel] /= viewCount }
        return view.kind == .tiles && view.tilePooling == .meanMax ? mean + maximum : mean
    }
}

/// Each consecutive block of `row` (widths in order) scaled to unit L2 norm (a zero block stays zero),
/// the norm accumulated in Double.
public func normalizingBlocks(_ row: [Float], widths: [Int]) -> [Float] {
    precondition(widths.reduce(0, +) == row.count, "block widths \(widths) do not cover a row of \(row.count)")
    var out = row
    var start = 0
    for width in widths {
        var squares = 0.0
        for i in start..<(start + width) { squares += Double(row[i]) * Double(row[i]) }
        if squares > 0 {
            let scale = 1 / squares.squareRoot()
            for i in start..<(start + width) { out[i] = Float(Double(row[i]) * scale) }
        }
        start += width
    }
    return out
}
