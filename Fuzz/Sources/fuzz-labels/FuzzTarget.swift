// libFuzzer target: a labels CSV (BOM, quotes, CRLF, columns, labels) through LabelTable.parse
// with the OxML format and with named labels; the UTF-8 check is the one LabelTable.read does.

import Evaluation
import Foundation
import FuzzSupport

let oxml = LabelsFormat(allowedLabels: [-1, 0, 1])
let named = LabelsFormat(idColumn: "image", labelColumn: "label", groupColumn: "source_tile", namedLabels: true)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let text = String(data: inputData(start, count), encoding: .utf8) else { return 0 }
    for format in [oxml, named] {
        if let table = try? LabelTable.parse(text, file: "labels.csv", format: format) {
            precondition(table.ids.count == table.labels.count && Set(table.ids).count == table.ids.count, "inconsistent table")
        }
    }
    return 0
}
