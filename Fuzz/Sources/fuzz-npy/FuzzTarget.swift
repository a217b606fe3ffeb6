// libFuzzer target: .npy bytes (magic, version, header dict, shape, dtype, data length) through
// NPYArray.parse, the function NPYArray.read uses.

import FeatureStore
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    if let array = try? NPYArray.parse(inputData(start, count), file: "input.npy") {
        precondition(array.shape.reduce(1, *) == array.values.count, "shape does not match the values")
    }
    return 0
}
