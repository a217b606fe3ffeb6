// libFuzzer target: a feature manifest (JSON) through FeatureManifest.read.

import FeatureStore
import Foundation
import FuzzSupport

let scratch = ScratchFile(name: "input.json")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    scratch.write(start, count)
    if let manifest = try? FeatureManifest.read(from: scratch.url) {
        precondition(manifest.imageIDs.count == manifest.imageSHA256.count, "validated manifest with unequal lists")
    }
    return 0
}
