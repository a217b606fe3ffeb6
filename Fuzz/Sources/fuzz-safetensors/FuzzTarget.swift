// libFuzzer target: a .safetensors file (header length, JSON header, dtypes, shapes, offsets)
// through loadWeights, which picks the safetensors reader from the extension.

import Foundation
import FuzzSupport
import Weights

let scratch = ScratchFile(name: "input.safetensors")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    scratch.write(start, count)
    if let store = try? loadWeights(from: scratch.url) {
        for tensor in store.tensors.values {
            precondition(tensor.shape.reduce(1, *) == tensor.values.count, "tensor shape does not match its values")
        }
    }
    return 0
}
