// libFuzzer target: a whole .pth file (zip checkpoint or legacy pickle stream) through loadWeights.

import Foundation
import FuzzSupport
import Weights

let scratch = ScratchFile(name: "input.pth")

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
