// Inputs that fuzzing (scripts/fuzz.sh) flagged, minimised and kept under Fixtures/regressions/.
// See FUZZING.md for the runs that found them.

import FeatureStore
import Foundation
import XCTest

final class FuzzRegressionTests: XCTestCase {
    private func regression(_ name: String) -> URL { Catalogue.fixture("regressions/" + name) }

    /// fuzz-manifest, LeakSanitizer: reading an empty file leaks one 4 KiB buffer inside
    /// swift-foundation's Data(contentsOf:) (not our code; suppressed in Fuzz/lsan-suppressions.txt).
    /// Our side of it: an empty manifest is a clear refusal naming the file.
    func testEmptyManifestIsRefused() {
        let url = regression("manifest-empty-file.json")
        let error = refusal { try FeatureManifest.read(from: url) }
        guard case .badManifest? = error as? FeatureStoreError else { return XCTFail("\(String(describing: error))") }
        assertMessage(error, names: url.path)
    }
}
