// Antialiased bilinear resize, a transcription of Pillow's ImagingResample
// (src/libImaging/Resample.c, Pillow 13.0.0) for the BILINEAR filter, which is what
// `Image.resize((w, h), Image.BILINEAR)` and torchvision's `Resize` on PIL images run.
//
// Per axis (precompute_coeffs): scale = inSize / outSize; the triangle filter's support
// (1 pixel) is widened by max(scale, 1) so a downscale averages every source pixel it
// covers (the antialiasing). Output pixel i has centre c = (i + 0.5)·scale, reads source
// pixels xmin ..< xmin + count with xmin = trunc(c − support + 0.5) clamped at 0 and
// xmax = trunc(c + support + 0.5) clamped at inSize, and weights
// w_j = triangle((xmin + j − c + 0.5) / max(scale, 1)) normalised to sum 1.
//
// 8-bit images (ImagingResampleHorizontal_8bpc / Vertical_8bpc): the Double weights are
// turned into fixed point with 22 fractional bits (PRECISION_BITS = 32 − 8 − 2), rounded
// half away from zero; each output is (1 << 21) + Σ pixel·weight, shifted right by 22 and
// clipped to 0...255. Two passes with the 8-bit rounding in between, horizontal first
// unless the height shrinks by more than twice as many pixels as the width (Pillow 13's
// rule, `horizontalPassFirst`); a pass whose size does not change is skipped. Float planes (mode "F", *_32bpc): Double
// weights, Double accumulation of Float samples, stored as Float.
//
// Done this way the result is bit-identical to Pillow (the fixtures check every pixel).

/// Fixed-point fraction bits of Pillow's 8-bit resampler.
private let precisionBits = 32 - 8 - 2

/// The filter taps of one axis: output i reads `count[i]` source pixels from `start[i]`
/// with weights `weights[i * taps ..< i * taps + count[i]]`.
struct ResampleCoefficients {
    var taps: Int
    var start: [Int]
    var count: [Int]
    var weights: [Double]
}

/// Pillow's precompute_coeffs for the bilinear (triangle) filter over the full box 0...inSize.
func bilinearCoefficients(inSize: Int, outSize: Int) -> ResampleCoefficients {
    let scale = Double(Float(inSize) - Float(0)) / Double(outSize)
    let filterScale = max(scale, 1.0)
    let support = 1.0 * filterScale
    let taps = Int(support.rounded(.up)) * 2 + 1
    var start = [Int](repeating: 0, count: outSize)
    var count = [Int](repeating: 0, count: outSize)
    var weights = [Double](repeating: 0, count: outSize * taps)
    let inverseFilterScale = 1.0 / filterScale
    for i in 0..<outSize {
        let center = 0.0 + (Double(i) + 0.5) * scale
        var first = Int(center - support + 0.5)      // C (int) cast: truncation toward zero
        if first < 0 { first = 0 }
        var last = Int(center + support + 0.5)
        if last > inSize { last = inSize }
        let n = last - first
        var total = 0.0
        for j in 0..<n {
            var x = (Double(j + first) - center + 0.5) * inverseFilterScale
            if x < 0 { x = -x }
            let w = x < 1.0 ? 1.0 - x : 0.0
            weights[i * taps + j] = w
            total += w
        }
        if total != 0 {
            for j in 0..<n { weights[i * taps + j] /= total }
        }
        start[i] = first
        count[i] = n
    }
    return ResampleCoefficients(taps: taps, start: start, count: count, weights: weights)
}

/// Pillow's normalize_coeffs_8bpc: Double weights → Int with 22 fraction bits, rounded half away from zero.
private func fixedPointWeights(_ weights: [Double]) -> [Int] {
    let one = Double(1 << precisionBits)
    return weights.map { $0 < 0 ? Int(-0.5 + $0 * one) : Int(0.5 + $0 * one) }
}

@inline(__always)
private func clip8(_ accumulator: Int) -> UInt8 {
    let value = accumulator >> precisionBits
    return value < 0 ? 0 : (value > 255 ? 255 : UInt8(value))
}

/// Pillow 13's pass order (ImagingResampleInner): the vertical pass runs first when the height
/// shrinks by more than twice as many pixels as the width does; otherwise horizontal first.
/// The order matters for the result because of the 8-bit rounding between the passes.
func horizontalPassFirst(inWidth: Int, inHeight: Int, outWidth: Int, outHeight: Int) -> Bool {
    !((inHeight - outHeight) > 0 && (inHeight - outHeight) > (inWidth - outWidth) * 2)
}

/// One horizontal pass: rows `firstRow ..< firstRow + rows` of `input` (inWidth wide, 3 channels)
/// → rows x outWidth x 3.
private func horizontalPass(_ input: [UInt8], inWidth: Int, firstRow: Int, rows: Int,
                            outWidth: Int, coefficients: ResampleCoefficients) -> [UInt8] {
    let fixed = fixedPointWeights(coefficients.weights)
    var output = [UInt8](repeating: 0, count: rows * outWidth * 3)
    let taps = coefficients.taps, half = 1 << (precisionBits - 1)
    input.withUnsafeBufferPointer { input in
        output.withUnsafeMutableBufferPointer { out in
            fixed.withUnsafeBufferPointer { k in
                for y in 0..<rows {
                    let inRow = (y + firstRow) * inWidth * 3, outRow = y * outWidth * 3
                    for x in 0..<outWidth {
                        let first = coefficients.start[x], n = coefficients.count[x]
                        var red = half, green = half, blue = half
                        var p = inRow + first * 3
                        for j in 0..<n {
                            let w = k[x * taps + j]
                            red += Int(input[p]) * w
                            green += Int(input[p + 1]) * w
                            blue += Int(input[p + 2]) * w
                            p += 3
                        }
                        out[outRow + 3 * x] = clip8(red)
                        out[outRow + 3 * x + 1] = clip8(green)
                        out[outRow + 3 * x + 2] = clip8(blue)
                    }
                }
            }
        }
    }
    return output
}

/// One vertical pass: input (rows x width x 3) whose row 0 is source row `rowOffset`
/// → outHeight x width x 3.
private func verticalPass(_ input: [UInt8], width: Int, rowOffset: Int, outHeight: Int,
                          coefficients: ResampleCoefficients) -> [UInt8] {
    let fixed = fixedPointWeights(coefficients.weights)
    let rowLength = width * 3, taps = coefficients.taps, half = 1 << (precisionBits - 1)
    var output = [UInt8](repeating: 0, count: outHeight * rowLength)
    input.withUnsafeBufferPointer { input in
        output.withUnsafeMutableBufferPointer { out in
            fixed.withUnsafeBufferPointer { k in
                for y in 0..<outHeight {
                    let first = coefficients.start[y] - rowOffset, n = coefficients.count[y]
                    let outRow = y * rowLength
                    for i in 0..<rowLength {
                        var sum = half
                        var p = first * rowLength + i
                        for j in 0..<n {
                            sum += Int(input[p]) * k[y * taps + j]
                            p += rowLength
                        }
                        out[outRow + i] = clip8(sum)
                    }
                }
            }
        }
    }
    return output
}

/// Resizes to `width` x `height` exactly as Pillow's `Image.resize((width, height), Image.BILINEAR)`.
public func resize(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
    precondition(width > 0 && height > 0, "resize to \(width)x\(height): sizes must be positive")
    precondition(image.width > 0 && image.height > 0, "resize of an empty image")
    if width == image.width && height == image.height { return image }
    let needHorizontal = width != image.width, needVertical = height != image.height
    let vertical = bilinearCoefficients(inSize: image.height, outSize: height)
    let horizontal = bilinearCoefficients(inSize: image.width, outSize: width)

    if horizontalPassFirst(inWidth: image.width, inHeight: image.height, outWidth: width, outHeight: height) {
        var current = image.pixels
        var rowOffset = 0
        if needHorizontal {
            // Only the source rows the vertical pass will read.
            let firstRow = vertical.start[0]
            let endRow = vertical.start[height - 1] + vertical.count[height - 1]
            current = horizontalPass(current, inWidth: image.width, firstRow: firstRow, rows: endRow - firstRow,
                                     outWidth: width, coefficients: horizontal)
            rowOffset = firstRow
        }
        if needVertical {
            current = verticalPass(current, width: width, rowOffset: rowOffset, outHeight: height, coefficients: vertical)
        }
        return RGBImage(width: width, height: height, pixels: current)
    } else {
        // Vertical first over the full width (the height shrinks a lot), then horizontal.
        var current = verticalPass(image.pixels, width: image.width, rowOffset: 0, outHeight: height, coefficients: vertical)
        if needHorizontal {
            current = horizontalPass(current, inWidth: image.width, firstRow: 0, rows: height, outWidth: width, coefficients: horizontal)
        }
        return RGBImage(width: width, height: height, pixels: current)
    }
}

/// Resizes planar Float images (`channels` x `height` x `width`, each plane like a Pillow
/// mode "F" image) to `channels` x `toHeight` x `toWidth` with Pillow's bilinear resampler
/// (Double weights and sums, Float results after each pass, same pass order as above).
public func resize(planes: [Float], channels: Int, width: Int, height: Int, toWidth: Int, toHeight: Int) -> [Float] {
    precondition(planes.count == channels * width * height, "planes hold \(planes.count) values, not \(channels)x\(height)x\(width)")
    precondition(toWidth > 0 && toHeight > 0 && width > 0 && height > 0, "resize sizes must be positive")
    if toWidth == width && toHeight == height { return planes }
    let needHorizontal = toWidth != width, needVertical = toHeight != height
    let vertical = bilinearCoefficients(inSize: height, outSize: toHeight)
    let horizontal = bilinearCoefficients(inSize: width, outSize: toWidth)
    let horizontalFirst = horizontalPassFirst(inWidth: width, inHeight: height, outWidth: toWidth, outHeight: toHeight)

    // plane (rows x inWidth) from row firstRow → (rows x toWidth)
    func horizontalPass(_ plane: [Float], inWidth: Int, firstRow: Int, rows: Int) -> [Float] {
        var out = [Float](repeating: 0, count: rows * toWidth)
        for y in 0..<rows {
            let inRow = (y + firstRow) * inWidth
            for x in 0..<toWidth {
                var sum = 0.0
                let first = horizontal.start[x]
                for j in 0..<horizontal.count[x] {
                    sum += Double(plane[inRow + first + j]) * horizontal.weights[x * horizontal.taps + j]
                }
                out[y * toWidth + x] = Float(sum)
            }
        }
        return out
    }
    // plane (rows x planeWidth) whose row 0 is source row rowOffset → (toHeight x planeWidth)
    func verticalPass(_ plane: [Float], planeWidth: Int, rowOffset: Int) -> [Float] {
        var out = [Float](repeating: 0, count: toHeight * planeWidth)
        for y in 0..<toHeight {
            let first = vertical.start[y] - rowOffset
            for x in 0..<planeWidth {
                var sum = 0.0
                for j in 0..<vertical.count[y] {
                    sum += Double(plane[(first + j) * planeWidth + x]) * vertical.weights[y * vertical.taps + j]
                }
                out[y * planeWidth + x] = Float(sum)
            }
        }
        return out
    }

    var output = [Float]()
    output.reserveCapacity(channels * toHeight * toWidth)
    for c in 0..<channels {
        var plane = Array(planes[(c * width * height)..<((c + 1) * width * height)])
        if horizontalFirst {
            var rowOffset = 0
            if needHorizontal {
                let firstRow = vertical.start[0]
                let endRow = vertical.start[toHeight - 1] + vertical.count[toHeight - 1]
                plane = horizontalPass(plane, inWidth: width, firstRow: firstRow, rows: endRow - firstRow)
                rowOffset = firstRow
            }
            if needVertical { plane = verticalPass(plane, planeWidth: toWidth, rowOffset: rowOffset) }
        } else {
            plane = verticalPass(plane, planeWidth: width, rowOffset: 0)
            if needHorizontal { plane = horizontalPass(plane, inWidth: width, firstRow: 0, rows: toHeight) }
        }
        output.append(contentsOf: plane)
    }
    return output
}
