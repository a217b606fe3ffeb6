// libFuzzer target: what a view may allocate (issue 16, class 3). The input is an image header
// (PNG or JPEG; its size read by `readImageSize`, as the extractor does before decoding) followed
// by two bytes choosing the view and the tile stride. `ViewOptions.checkMemory` must refuse every
// view whose padded square, tile canvas, native pass or tile count exceeds `ViewLimits` (lowered
// here so the arithmetic near the limits is reached with small images) and accept the others;
// an accepted view of a small image is then planned, and its inputs checked against the limits.

import Extraction
import FuzzSupport
import Imaging

let limits = ViewLimits(pixels: 1_000_000, nativePixels: 250_000, tiles: 64)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = inputData(start, count)
    guard data.count >= 2, let size = try? readImageSize(data: data.dropLast(2), name: "input") else { return 0 }
    let choice = data[data.endIndex - 2], strideByte = data[data.endIndex - 1]
    let kind = ViewKind.allCases[Int(choice) % ViewKind.allCases.count]
    let inputSize = [32, 64, 224][Int(choice / 4) % 3]
    let view = ViewOptions(kind: kind, tileStride: strideByte == 0 ? nil : Int(strideByte))
    do {
        try view.checkMemory(width: size.width, height: size.height, inputSize: inputSize, image: "input", limits: limits)
    } catch {
        precondition(error.localizedDescription.hasPrefix("input: --view \(kind.rawValue) would need"), "unexpected refusal: \(error)")
        return 0
    }
    // Accepted: the view's allocation is within the limits.
    let (width, height) = (size.width, size.height)
    switch kind {
    case .resize: break
    case .pad: precondition(max(width, height) * max(width, height) <= limits.pixels, "pad accepted past the limit")
    case .native: precondition(width * height <= limits.nativePixels, "native accepted past the limit")
    case .tiles: precondition(max(width, inputSize) * max(height, inputSize) <= limits.pixels, "tiles accepted past the limit")
    }
    // Plan small accepted images for real: tile count within the limit, every input of its size.
    // (resize accepts any size: the decoder's own pixel limit bounds its source.)
    guard kind != .resize, (1...65_536).contains(width), (1...65_536).contains(height), width * height <= 65_536 else { return 0 }
    let image = RGBImage(width: width, height: height, pixels: [UInt8](repeating: 200, count: width * height * 3))
    let plan = view.plan(of: image, inputSize: inputSize)
    if kind == .tiles { precondition(plan.count <= limits.tiles, "\(plan.count) tiles accepted past the limit of \(limits.tiles)") }
    for index in 0..<min(plan.count, 4) {
        let input = plan.image(index)
        precondition(input.width == plan.size(index).width && input.height == plan.size(index).height, "plan size differs from its image")
    }
    return 0
}
