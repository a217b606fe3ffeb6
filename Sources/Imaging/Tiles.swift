// Tiles at native resolution for the `tiles` view, and the tissue fraction used to drop
// background tiles.

/// Square tiles of `size` pixels placed every `stride` pixels (stride < size overlaps them).
public struct TileGrid: Sendable, Equatable {
    public var size: Int
    public var stride: Int

    public init(size: Int, stride: Int) {
        precondition(size > 0 && stride > 0, "tile size \(size) and stride \(stride) must be positive")
        self.size = size
        self.stride = stride
    }

    public func origins(width: Int, height: Int) -> [(x: Int, y: Int)] {
        tileOrigins(width: width, height: height, size: size, stride: stride)
    }
}

/// Top-left corners of tiles covering a `width` x `height` image, row by row. Along each axis:
/// 0, stride, 2·stride, ... while the tile fits, plus a last tile flush with the far border when
/// the stride does not land there; an axis no longer than `size` has the single origin 0 (the
/// image is padded there, see `tiles`).
public func tileOrigins(width: Int, height: Int, size: Int, stride: Int) -> [(x: Int, y: Int)] {
    precondition(size > 0 && stride > 0, "tile size \(size) and stride \(stride) must be positive")
    func axis(_ length: Int) -> [Int] {
        if length <= size { return [0] }
        var origins = Array(Swift.stride(from: 0, through: length - size, by: stride))
        if origins.last != length - size { origins.append(length - size) }
        return origins
    }
    let xs = axis(width), ys = axis(height)
    return ys.flatMap { y in xs.map { x in (x: x, y: y) } }
}

/// The tiles of `grid` over `image`, in the order of `tileOrigins`. An image smaller than the
/// tile along an axis is first padded to the tile size with white, centred (`pad`), so it
/// gives one tile along that axis.
public func tiles(_ image: RGBImage, grid: TileGrid) -> [RGBImage] {
    let padded = pad(image, toWidth: grid.size, toHeight: grid.size, mode: .constant(255, 255, 255))
    return grid.origins(width: padded.width, height: padded.height).map {
        crop(padded, x: $0.x, y: $0.y, width: grid.size, height: grid.size)
    }
}

/// Fraction of pixels that are tissue rather than slide background. A pixel is background
/// when it is both bright and unsaturated in HSV terms:
///     value = max(R, G, B) / 255 > brightness          (default 0.80)
///     saturation = (max − min) / max < saturation      (default 0.10)
/// Everything else (stained tissue, including pale pink stroma, but also dark debris or pen
/// marks) counts as tissue. Unstained glass is near (240, 240, 240): value 0.94, saturation 0.
public func tissueFraction(_ image: RGBImage, saturation: Double = 0.10, brightness: Double = 0.80) -> Double {
    let count = image.width * image.height
    if count == 0 { return 0 }
    var background = 0
    image.pixels.withUnsafeBufferPointer { p in
        for i in 0..<count {
            let r = Int(p[3 * i]), g = Int(p[3 * i + 1]), b = Int(p[3 * i + 2])
            let high = max(r, g, b), low = min(r, g, b)
            let value = Double(high) / 255
            let chroma = high > 0 ? Double(high - low) / Double(high) : 0
            if value > brightness && chroma < saturation { background += 1 }
        }
    }
    return 1 - Double(background) / Double(count)
}
