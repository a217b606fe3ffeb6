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

    /// The images the backbone sees for `image` (before TTA), all of one view, materialised.
    /// The extractor uses `plan(of:inputSize:)`, which crops tiles one batch at a time.
    public func viewImages(of image: RGBImage, inputSize: Int) -> [RGBImage] {
        let plan = plan(of: image, inputSize: inputSize)
        return (0..<plan.count).map(plan.image)
    }

    /// The view images of `image` without materialising tiles: the padded canvas and the origins
    /// of the tiles kept (the tissue filter measures each tile and drops it, keeping nothing).
    public func plan(of image: RGBImage, inputSize: Int) -> ViewPlan {
        switch kind {
        case .resize:
            return ViewPlan(canvas: resize(image, width: inputSize, height: inputSize), tileSize: nil, origins: [])
        case .pad:
            return ViewPlan(canvas: resize(padToSquare(image, mode: .constant(255, 255, 255)), width: inputSize, height: inputSize),
                            tileSize: nil, origins: [])
        case .native:
            return ViewPlan(canvas: image, tileSize: nil, origins: [])
        case .tiles:
            // An image smaller than a tile along an axis is padded with white to the tile size there.
            let padded = pad(image, toWidth: inputSize, toHeight: inputSize, mode: .constant(255, 255, 255))
            let all = tileOrigins(width: padded.width, height: padded.height, size: inputSize, stride: stride(inputSize: inputSize))
            guard minimumTissueFraction > 0 else { return ViewPlan(canvas: padded, tileSize: inputSize, origins: all) }
            let kept = all.filter {
                tissueFraction(crop(padded, x: $0.x, y: $0.y, width: inputSize, height: inputSize)) >= minimumTissueFraction
            }
            return ViewPlan(canvas: padded, tileSize: inputSize, origins: kept.isEmpty ? all : kept)
        }
    }

    /// Checks, from the image's size alone and before anything is allocated, that this view stays
    /// within `limits`; throws `ExtractionError.viewTooLarge` naming the image, the view and the number.
    public func checkMemory(width: Int, height: Int, inputSize: Int, image: String, limits: ViewLimits = .current) throws {
        func refuse(_ what: String, _ number: Int, _ limit: Int, _ variable: String) -> ExtractionError {
            .viewTooLarge(path: image, view: kind.rawValue, what: what, number: number, limit: limit, variable: variable)
        }
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        switch kind {
        case .resize:
            return      // the decoder's pixel limit bounds the source; the view is inputSize²
        case .pad:
            let side = max(width, height)
            let (square, squareOverflow) = side.multipliedReportingOverflow(by: side)
            guard !squareOverflow, square <= limits.pixels else {
                throw refuse("a padded square of \(side) x \(side) pixels", squareOverflow ? Int.max : square, limits.pixels, ViewLimits.pixelsVariable)
            }
        case .native:
            guard !overflow, pixels <= limits.nativePixels else {
                throw refuse("a native pass over \(width) x \(height) pixels", overflow ? Int.max : pixels, limits.nativePixels, ViewLimits.nativeVariable)
            }
        case .tiles:
            let canvasWidth = max(width, inputSize), canvasHeight = max(height, inputSize)
            let (canvas, canvasOverflow) = canvasWidth.multipliedReportingOverflow(by: canvasHeight)
            guard !canvasOverflow, canvas <= limits.pixels else {
                throw refuse("a tile canvas of \(canvasWidth) x \(canvasHeight) pixels", canvasOverflow ? Int.max : canvas, limits.pixels, ViewLimits.pixelsVariable)
            }
            let step = stride(inputSize: inputSize)
            func count(_ length: Int) -> Int { length <= inputSize ? 1 : (length - inputSize) / step + 1 + ((length - inputSize) % step == 0 ? 0 : 1) }
            let (tiles, tilesOverflow) = count(canvasWidth).multipliedReportingOverflow(by: count(canvasHeight))
            guard !tilesOverflow, tiles <= limits.tiles else {
                throw refuse("\(count(canvasWidth)) x \(count(canvasHeight)) tiles of \(inputSize) px at stride \(step)",
                             tilesOverflow ? Int.max : tiles, limits.tiles, ViewLimits.tilesVariable)
            }
        }
    }
}

/// The inputs of one view of one image: a canvas, and either the canvas itself as the single
/// input or square tiles cropped from it on demand.
public struct ViewPlan {
    public let canvas: RGBImage
    public let tileSize: Int?
    public let origins: [(x: Int, y: Int)]

    public var count: Int { tileSize == nil ? 1 : origins.count }

    /// Input `index`'s pixel size without materialising it.
    public func size(_ index: Int) -> (width: Int, height: Int) {
        guard let tileSize else { return (canvas.width, canvas.height) }
        return (tileSize, tileSize)
    }

    public func image(_ index: Int) -> RGBImage {
        guard let tileSize else { return canvas }
        return crop(canvas, x: origins[index].x, y: origins[index].y, width: tileSize, height: tileSize)
    }
}

/// What one view may make the extractor allocate, beyond the decoder's pixel limit:
///   pixels        the padded square (pad) or the padded tile canvas (tiles), default 64 MP (as decoding);
///   nativePixels  the image of a native pass, whose activations take ~150 bytes per pixel in
///                 ResNet-50 (6000 x 6000 took 5.3 GB), default 8 MP (~1.2 GB);
///   tiles         tiles per image (each one a network pass, 8 under TTA), default 4096.
/// Each can be raised (or lowered) by its environment variable.
public struct ViewLimits: Sendable, Equatable {
    public static let pixelsVariable = "CARCINOMA_MAX_VIEW_PIXELS"
    public static let nativeVariable = "CARCINOMA_MAX_NATIVE_PIXELS"
    public static let tilesVariable = "CARCINOMA_MAX_TILES"

    public var pixels: Int
    public var nativePixels: Int
    public var tiles: Int

    public init(pixels: Int = 64_000_000, nativePixels: Int = 8_000_000, tiles: Int = 4096) {
        self.pixels = pixels
        self.nativePixels = nativePixels
        self.tiles = tiles
    }

    /// The defaults, overridden by the environment.
    public static var current: ViewLimits {
        let environment = ProcessInfo.processInfo.environment
        func value(_ name: String, _ fallback: Int) -> Int { environment[name].flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil } ?? fallback }
        let defaults = ViewLimits()
        return ViewLimits(pixels: value(pixelsVariable, defaults.pixels), nativePixels: value(nativeVariable, defaults.nativePixels),
                          tiles: value(tilesVariable, defaults.tiles))
    }
}

/// How one view image is shown to the network.
public enum TestTimeAugmentation: String, CaseIterable, Sendable {
    /// The 8 symmetries of the square (rotations by 90° and flips), embeddings averaged.
    case d4

    var transforms: [DihedralTransform] { DihedralTransform.allCases }
}
