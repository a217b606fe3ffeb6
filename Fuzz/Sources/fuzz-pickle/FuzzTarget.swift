// libFuzzer target: the input is the data pickle of a legacy torch checkpoint. It is framed
// with the real header pickles (magic number, protocol 1001, sys_info) before it and the storage
// keys ["0"] plus one 6-float storage after it, so mutations reach the unpickler's opcodes
// (globals, REDUCE, memo, nesting, sizes) rather than dying in the container checks.

import Foundation
import FuzzSupport
import Weights

let scratch = ScratchFile(name: "input.pth")

/// magic 0x1950a86a20f9469cfc6c, protocol 1001, sys_info, as torch.save writes them (protocol 2).
let header: [UInt8] = hexBytes(
    "80028a0a6cfc9c46f9206aa850192e80024de9032e80027d710028581000000070726f746f636f6c5f76657273696f6e71014de903"
    + "580d0000006c6974746c655f656e6469616e710288580a000000747970655f73697a657371037d710428580500000073686f7274"
    + "71054b025803000000696e7471064b0458040000006c6f6e6771074b0475752e")
/// pickle(["0"]), then storage "0": int64 count 6 and 24 bytes.
let trailer: [UInt8] = hexBytes("80025d71005801000000307101612e") + [6, 0, 0, 0, 0, 0, 0, 0] + [UInt8](repeating: 0x3F, count: 24)

func hexBytes(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(UInt8(text[index..<next], radix: 16) ?? 0)
        index = next
    }
    return bytes
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    var file = header
    file.append(contentsOf: inputData(start, count))
    file.append(contentsOf: trailer)
    file.withUnsafeBufferPointer { scratch.write($0.baseAddress, $0.count) }
    if let store = try? loadWeights(from: scratch.url) {
        for tensor in store.tensors.values {
            precondition(tensor.shape.reduce(1, *) == tensor.values.count, "tensor shape does not match its values")
        }
    }
    return 0
}
