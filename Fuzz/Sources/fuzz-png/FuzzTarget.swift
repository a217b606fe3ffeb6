// libFuzzer target: PNG bytes through the Imaging decoder (the C shims over libpng/libjpeg
// and the Swift conversion to RGB). The pixel limit is lowered to 4 megapixels so that headers
// claiming large images stay fast; the limit path itself is the same code.

import FuzzSupport
import Imaging

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = inputData(start, count)
    if let image = try? decodeImage(data: data, name: "input.png", maxPixels: 4_000_000) {
        precondition(image.pixels.count == image.width * image.height * 3, "pixel buffer does not match the size")
    }
    return 0
}
