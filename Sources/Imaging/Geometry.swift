// Crop, pad to square and the eight dihedral transforms (D4) of an RGB image.
// Conventions are numpy's and Pillow's, checked by the fixtures
// (scripts/fixtures/imaging_fixtures.py): index [y][x], y down, x right.

/// How `padToSquare` fills the added border.
public enum PadMode: Sendable, Equatable {
    /// A constant colour (white, 255 255 255, is the slide background).
    case constant(UInt8, UInt8, UInt8)
    /// Mirror without repeating the edge pixel, numpy.pad(mode="reflect"): ... c b | a b c d | c b a ...
    /// A border wider than the image keeps reflecting back and forth, as numpy does.
    case reflect
}

/// Pads the shorter side so the image becomes max(width, height) square, centred: the
/// side before (left / top) gets floor(extra / 2) pixels, the side after the rest.
public func padToSquare(_ image: RGBImage, mode: PadMode) -> RGBImage {
    let side = max(image.width, image.height)
    return pad(image, toWidth: side, toHeight: side, mode: mode)
}

/// Pads to at least `toWidth` x `toHeight` (an axis already as large is left alone), centred
/// as in `padToSquare`.
public func pad(_ image: RGBImage, toWidth: Int, toHeight: Int, mode: PadMode) -> RGBImage {
    let width = max(toWidth, image.width), height = max(toHeight, image.height)
    if width == image.width && height == image.height { return image }
    let left = (width - image.width) / 2, top = (height - image.height) / 2
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    switch mode {
    case let .constant(red, green, blue):
        for i in 0..<(width * height) {
            pixels[3 * i] = red; pixels[3 * i + 1] = green; pixels[3 * i + 2] = blue
        }
        for y in 0..<image.height {
            let from = y * image.width * 3, to = ((y + top) * width + left) * 3
            pixels.replaceSubrange(to..<(to + image.width * 3), with: image.pixels[from..<(from + image.width * 3)])
        }
    case .reflect:
        let columns = (0..<width).map { reflectIndex($0 - left, count: image.width) }
        for y in 0..<height {
            let sourceRow = reflectIndex(y - top, count: image.height) * image.width
            for x in 0..<width {
                let from = (sourceRow + columns[x]) * 3, to = (y * width + x) * 3
                pixels[to] = image.pixels[from]; pixels[to + 1] = image.pixels[from + 1]; pixels[to + 2] = image.pixels[from + 2]
            }
        }
    }
    return RGBImage(width: width, height: height, pixels: pixels)
}

/// numpy "reflect" index for any integer position: period 2·(count − 1), edge not repeated.
func reflectIndex(_ position: Int, count: Int) -> Int {
    if count == 1 { return 0 }
    let period = 2 * (count - 1)
    var p = position % period
    if p < 0 { p += period }
    return p < count ? p : period - p
}

/// The `width` x `height` region whose top-left corner is (x, y), like Pillow's
/// `Image.crop((x, y, x + width, y + height))`: parts outside the image are black.
public func crop(_ image: RGBImage, x: Int, y: Int, width: Int, height: Int) -> RGBImage {
    precondition(width >= 0 && height >= 0, "crop size \(width)x\(height) must not be negative")
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    let firstX = max(x, 0), endX = min(x + width, image.width)
    if firstX < endX {
        let rowBytes = (endX - firstX) * 3
        for row in max(y, 0)..<max(max(y, 0), min(y + height, image.height)) {
            let from = (row * image.width + firstX) * 3, to = ((row - y) * width + (firstX - x)) * 3
            pixels.replaceSubrange(to..<(to + rowBytes), with: image.pixels[from..<(from + rowBytes)])
        }
    }
    return RGBImage(width: width, height: height, pixels: pixels)
}

/// The centred `width` x `height` region, as torchvision's `CenterCrop` / `center_crop`:
/// top = round((H − h) / 2), left = round((W − w) / 2) with Python's round-half-to-even; a crop
/// larger than the image is first padded with black (torchvision pads with 0), centred the same way.
public func centerCrop(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
    var source = image
    if width > image.width || height > image.height {
        // torchvision pads [(w − W) / 2, (h − H) / 2, (w − W + 1) / 2, (h − H + 1) / 2] (integer division).
        let padWidth = max(width - image.width, 0), padHeight = max(height - image.height, 0)
        let left = padWidth / 2, top = padHeight / 2
        source = crop(image, x: -left, y: -top, width: image.width + padWidth, height: image.height + padHeight)
        if source.width == width && source.height == height { return source }
    }
    let top = Int((Double(source.height - height) / 2).rounded(.toNearestOrEven))
    let left = Int((Double(source.width - width) / 2).rounded(.toNearestOrEven))
    return crop(source, x: left, y: top, width: width, height: height)
}

/// The eight symmetries of the square, named and defined as numpy does on an H x W x 3 array:
///
///   identity        a
///   rotate90        numpy.rot90(a, 1): 90° counter-clockwise   out[i][j] = a[j][W−1−i]   (W x H)
///   rotate180       numpy.rot90(a, 2)                          out[i][j] = a[H−1−i][W−1−j]
///   rotate270       numpy.rot90(a, 3): 90° clockwise           out[i][j] = a[H−1−j][i]   (W x H)
///   flipHorizontal  numpy.flip(a, 1), mirror left-right        out[i][j] = a[i][W−1−j]
///   flipVertical    numpy.flip(a, 0), mirror top-bottom        out[i][j] = a[H−1−i][j]
///   transpose       a.swapaxes(0, 1), main diagonal            out[i][j] = a[j][i]       (W x H)
///   transverse      anti-diagonal                              out[i][j] = a[H−1−j][W−1−i] (W x H)
///
/// Pillow's Image.transpose(ROTATE_90, ROTATE_180, ROTATE_270, FLIP_LEFT_RIGHT, FLIP_TOP_BOTTOM,
/// TRANSPOSE, TRANSVERSE) gives the same images (checked by the fixture generator).
public enum DihedralTransform: CaseIterable, Sendable {
    case identity, rotate90, rotate180, rotate270, flipHorizontal, flipVertical, transpose, transverse

    /// True when the output is W x H rather than H x W.
    public var swapsAxes: Bool {
        switch self {
        case .rotate90, .rotate270, .transpose, .transverse: return true
        default: return false
        }
    }

    /// The transform that undoes this one.
    public var inverse: DihedralTransform {
        switch self {
        case .rotate90: return .rotate270
        case .rotate270: return .rotate90
        default: return self
        }
    }
}

public func transform(_ image: RGBImage, _ t: DihedralTransform) -> RGBImage {
    let height = image.height, width = image.width
    if t == .identity { return image }
    let outWidth = t.swapsAxes ? height : width, outHeight = t.swapsAxes ? width : height
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    image.pixels.withUnsafeBufferPointer { input in
        pixels.withUnsafeMutableBufferPointer { out in
            for i in 0..<outHeight {
                for j in 0..<outWidth {
                    // Source (row, column) of output (i, j), as in the table above.
                    let row: Int, column: Int
                    switch t {
                    case .identity: (row, column) = (i, j)
                    case .rotate90: (row, column) = (j, width - 1 - i)
                    case .rotate180: (row, column) = (height - 1 - i, width - 1 - j)
                    case .rotate270: (row, column) = (height - 1 - j, i)
                    case .flipHorizontal: (row, column) = (i, width - 1 - j)
                    case .flipVertical: (row, column) = (height - 1 - i, j)
                    case .transpose: (row, column) = (j, i)
                    case .transverse: (row, column) = (height - 1 - j, width - 1 - i)
                    }
                    let from = (row * width + column) * 3, to = (i * outWidth + j) * 3
                    out[to] = input[from]; out[to + 1] = input[from + 1]; out[to + 2] = input[from + 2]
                }
            }
        }
    }
    return RGBImage(width: outWidth, height: outHeight, pixels: pixels)
}
