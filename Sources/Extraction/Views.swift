// Views of an image of any size: what the backbone actually sees.
//
// The OxML crops run from 218 to 896 px a side; each view is one answer to "how do we feed
// that to a network trained at 224":
//   resize  the whole image scaled to the backbone's square input (the seed notebook);
//   pad     padded to a square with white (the slide background), then scaled;
//   native  the whole image at its own resolution (the networks are fully convolutional
//           up to the global pool);
//   tiles   tiles of the input size at native resolution, `stride` apart, embeddings
//           pooled (mean, or mean and max concatenated); optionally only tiles whose
//           tissue fraction reaches a threshold, falling back to every tile when none does.
// With TTA d4 every view image is also seen under the 8 rotations and flips and the 8
// embeddings are averaged before pooling.

import Foundation
import Imaging

public enum ViewKind: String, CaseIterable, Sendable {
    case resize, pad, native, tiles
}

public enum TilePooling: String, CaseIterable, Sendable {
    case mean
    /// Mean and max over tiles, concatenated: the embedding is twice as wide.
    case meanMax = "mean+max"
}

public struct ViewOptions: Sendable, Equatable {
    public var kind: ViewKind
    /// Tile stride in pixels; nil means half the tile size.
    public var tileStride: Int?
    public var tilePooling: TilePooling
    /// Tiles with a smaller tissue fraction are dropped (0 keeps every tile).
    public var minimumTissueFraction: Double

    public init(kind: ViewKind, tileStride: Int? = nil, tilePooling: TilePooling = .mean, minimumTissueFraction: Double = 0) {
        self.kind = kind
        self.tileStride = tileStride
        self.tilePooling = tilePooling
        self.minimumTissueFraction = minimumTissueFraction
    }

    /// Width of one stored row for a backbone of `embeddingWidth`.
    public func rowWidth(embeddingWidth: Int) -> Int {
        kind == .tiles && tilePooling == .meanMax ? 2 * embeddingWidth : embeddingWidth
    }

    public func stride(inputSize: Int) -> Int { tileStride ?? max(1, inputSize / 2) }

    /// Recorded in the manifest: a change in any of these invalidates the cache.
    public func parameters(inputSize: Int) -> [String: String] {
        switch kind {
        case .resize:
            return ["size": "\(inputSize)", "resample": "bilinear-antialias"]
        case .pad:
            return ["size": "\(inputSize)", "resample": "bilinear-antialias", "fill": "255,255,255"]
        case .native:
            return [:]
        case .tiles:
            return ["size": "\(inputSize)", "stride": "\(stride(inputSize: inputSize))",
                    "pool": tilePooling.rawValue, "minTissue": String(minimumTissueFraction), "smallSide": "pad-white"]
        }
    }

    /// The images the backbone sees for `image` (before TTA), all of one view.
    public func viewImages(of image: RGBImage, inputSize: Int) -> [RGBImage] {
        switch kind {
        case .resize:
            return [resize(image, width: inputSize, height: inputSize)]
        case .pad:
            return [resize(padToSquare(image, mode: .constant(255, 255, 255)), width: inputSize, height: inputSize)]
        case .native:
            return [image]
        case .tiles:
            // An image smaller than a tile along an axis is padded with white to the tile size there.
            let all = tiles(image, grid: TileGrid(size: inputSize, stride: stride(inputSize: inputSize)))
            guard minimumTissueFraction > 0 else { return all }
            let kept = all.filter { tissueFraction($0) >= minimumTissueFraction }
            return kept.isEmpty ? all : kept
        }
    }
}

/// How one view image is shown to the network.
public enum TestTimeAugmentation: String, Sendable {
    /// The 8 symmetries of the square (rotations by 90° and flips), embeddings averaged.
    case d4

    var transforms: [DihedralTransform] { DihedralTransform.allCases }
}
