// Diagnostics from every source reach the user: real heads made to warn (caps of 1, a GP box excluding the
// optimum), a head that never predicts two classes, and folds that leave a class out of training, followed through
// the results row's tally, `compare`'s footer, results.json (and back) and both reports; a results.json written
// before diagnostics were kept still loads and says so.

import XCTest
import Evaluation
import FeatureStore
import Heads
import LinearAlgebra

final class DiagnosticsReportingTests: XCTestCase {
    /// Blobs with three classes (30/12/10 rows), 3 outer folds, no ensembles.
    func warningComparison() throws -> ComparisonResults {
        let (set, labels) = blobs()
        let prepared = try Comparison.prepare(featureSets: [set], labels: labels)
        let heads = [
            HeadSpecification(name: "softmax", candidates: [HeadCandidate(setting: "maxIterations=1", classifier: try SoftmaxRegression(maxIterations: 1))]),
            HeadSpecification(name: "svm", candidates: [HeadCandidate(setting: "maxIterations=1", classifier: try SupportVectorMachine(maxIterations: 1))]),
            // Rows a few units apart; a box from 50 up holds no better length than 50.
            HeadSpecification(name: "gp", candidates: [HeadCandidate(setting: "bounds 50...1e5",
                classifier: try GaussianProcessClassifier(restarts: 0, bounds: 50...1e5))]),
            HeadSpecification(name: "majority", candidates: [HeadCandidate(setting: "-", classifier: Majority())]),
        ]
        return try Comparison.run(prepared, heads: heads, settings: CrossValidationSettings(foldCount: 3, repeats: 1, threads: 2),
                                  metaLearner: nil, ensembles: false).results
    }

    func testEverySourceReachesTheFooterResultsFileAndReport() throws {
        let results = try warningComparison()
        func row(_ head: String) throws -> ResultRow { try XCTUnwrap(results.rows.first { $0.head == head }, head) }
        func tallies(_ head: String, _ kind: Diagnostic.Kind) throws -> [DiagnosticTally] {
            try XCTUnwrap(try row(head).diagnostics, head).filter { $0.first.kind == kind }
        }
        // Solvers capped at one iteration warn in every fold; the GP box holds its length scale in at least one.
        XCTAssertEqual(try tallies("softmax", .iterationLimit).map(\.folds), [3])
        XCTAssertEqual(try tallies("svm", .iterationLimit).map(\.folds), [3])
        let bound = try tallies("gp", .hyperparameterAtBound).filter { $0.first.parameter == "length scale" && $0.first.bound == .lower }
        let gpDiagnostics = try row("gp").diagnostics ?? []
        XCTAssertFalse(bound.isEmpty, "\(gpDiagnostics)")
        // The majority head predicts class -1 only: classes 0 and 1 are never predicted, in every fold.
        let never = try tallies("majority", .classNeverPredicted)
        XCTAssertEqual(never.map(\.first.classLabel), [0, 1])
        XCTAssertEqual(never.map(\.folds), [3, 3])
        // Every fold keeps its own messages.
        XCTAssert(try row("softmax").folds.allSatisfy { $0.diagnostics?.contains { $0.kind == .iterationLimit } == true })

        let footer = results.diagnosticsFooter()
        let lines = [("softmax", "softmax: solver stopped at its iteration cap before its tolerance: 3/3 folds"),
                     ("svm", "svm-rbf: solver stopped at its iteration cap before its tolerance: 3/3 folds"),
                     ("gp", "gaussian-process: length scale at its lower bound"),
                     ("majority", "classes never predicted on the test rows: 0 3/3, 1 3/3")]
        for (head, text) in lines {
            let name = try row(head).name
            XCTAssert(footer.split(separator: "\n").contains { $0.contains(name) && $0.contains(text) }, "footer lacks \(head): \(text)\n\(footer)")
        }
        let expected = [("softmax", "softmax: solver stopped at its iteration cap"), ("svm", "svm-rbf: solver stopped at its iteration cap"),
                        ("gp", "gaussian-process: length scale at its lower bound"), ("majority", "class 0 never predicted"),
                        ("majority", "class 1 never predicted")]

        // results.json: the typed diagnostics are in the file and read back unchanged.
        let json = String(decoding: try results.encoded(), as: UTF8.self)
        for kind in ["iterationLimit", "hyperparameterAtBound", "classNeverPredicted"] { XCTAssert(json.contains("\"\(kind)\""), kind) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("diagnostics-\(UUID().uuidString)", isDirectory: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try results.write(to: directory)
        let read = try ComparisonResults.read(from: directory)
        XCTAssertEqual(read, results)
        XCTAssertEqual(read.diagnosticsFooter(), footer)

        // Both reports list them.
        let markdown = Report.markdown(read), html = Report.html(read)
        XCTAssert(markdown.contains("## Diagnostics"))
        XCTAssert(html.contains("<h2>Diagnostics</h2>"))
        for (_, headline) in expected {
            XCTAssert(markdown.contains(headline), "report.md lacks \(headline)")
            XCTAssert(html.contains(headline), "report.html lacks \(headline)")
        }
    }

    func testAFoldWithoutAClassInTrainingIsADiagnosticThatReachesTheReport() throws {
        // Hand-made folds (CrossValidation.run takes any): class 1's rows all sit in fold 0's test rows.
        let (set, labels) = blobs(separation: 8)
        let prepared = try Comparison.prepare(featureSets: [set], labels: labels)
        let data = prepared.featureSets[0].data
        let classOne = data.labels.indices.filter { data.labels[$0] == 1 }
        let others = data.labels.indices.filter { data.labels[$0] != 1 }
        let test0 = classOne + others.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)
        let test1 = others.enumerated().filter { $0.offset % 2 == 1 }.map(\.element) + [classOne[0]]
        func fold(_ index: Int, _ test: [Int]) -> Fold {
            Fold(repeatIndex: 0, foldIndex: index, trainRows: data.labels.indices.filter { !test.contains($0) }, testRows: test)
        }
        let head = HeadSpecification(name: "centroid", candidates: [HeadCandidate(setting: "-", classifier: NearestCentroid(sharpness: 1))])
        let outcome = try CrossValidation.run(name: "features / centroid", featureSet: "features", head: head, data: data,
                                              folds: [fold(0, test0), fold(1, test1)], settings: CrossValidationSettings(threads: 1),
                                              innerProbabilitiesNeeded: false)
        XCTAssertEqual(outcome.folds[0].diagnostics.map(\.kind), [.classAbsentFromTraining])
        XCTAssertEqual(outcome.folds[0].diagnostics.first?.classLabel, 1)
        XCTAssertEqual(outcome.folds[1].diagnostics, [])   // class 1 trains from the rows fold 0 did not test
        let row = ResultRow(outcome: outcome, labels: data.labels, fitSeconds: 0)
        let tally = try XCTUnwrap(row.diagnostics)
        // Fold 0 cannot predict class 1 either: the absence and its consequence, once each.
        XCTAssertEqual(tally.map(\.first.kind), [.classAbsentFromTraining, .classNeverPredicted])
        XCTAssertEqual(tally.map(\.folds), [1, 1])

        // The row in a results file (spliced into a real one), then the footer and the reports.
        let results = try warningComparison()
        var object = try XCTUnwrap(try JSONSerialization.jsonObject(with: try results.encoded()) as? [String: Any])
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let encodedRow = try JSONSerialization.jsonObject(with: try encoder.encode(row))
        object["rows"] = [encodedRow]
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("absent-\(UUID().uuidString)", isDirectory: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: object).write(to: directory.appendingPathComponent(ComparisonResults.fileName))
        let read = try ComparisonResults.read(from: directory)
        XCTAssertEqual(read.rows.first?.diagnostics, row.diagnostics)
        XCTAssert(read.diagnosticsFooter().contains("classes absent from the training rows: 1 1/2"), read.diagnosticsFooter())
        for text in [Report.markdown(read), Report.html(read)] {
            XCTAssert(text.contains("class 1 absent from the training rows"), text)
        }
    }

    func testACleanRunSaysSoAndAnOldResultsFileStillLoads() throws {
        let (set, labels) = blobs(separation: 8)
        let prepared = try Comparison.prepare(featureSets: [set], labels: labels)
        let head = HeadSpecification(name: "centroid", candidates: [HeadCandidate(setting: "-", classifier: NearestCentroid(sharpness: 1))])
        let results = try Comparison.run(prepared, heads: [head], settings: CrossValidationSettings(foldCount: 3, threads: 1),
                                         metaLearner: nil, ensembles: false).results
        XCTAssertEqual(results.rows.first?.diagnostics, [])
        XCTAssert(results.diagnosticsFooter().hasPrefix("diagnostics: none"), results.diagnosticsFooter())
        XCTAssert(Report.markdown(results).contains("## Diagnostics\n\nNone: "))

        // A results.json from before diagnostics: no `diagnostics` key in any row or fold.
        func strip(_ value: Any) -> Any {
            if let object = value as? [String: Any] {
                return object.filter { $0.key != "diagnostics" }.mapValues(strip)
            }
            if let array = value as? [Any] { return array.map(strip) }
            return value
        }
        let old = strip(try JSONSerialization.jsonObject(with: try results.encoded()))
        let oldData = try JSONSerialization.data(withJSONObject: old)
        XCTAssertFalse(String(decoding: oldData, as: UTF8.self).contains("diagnostics"))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("old-\(UUID().uuidString)", isDirectory: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try oldData.write(to: directory.appendingPathComponent(ComparisonResults.fileName))
        let read = try ComparisonResults.read(from: directory)
        XCTAssertNil(read.rows.first?.diagnostics)
        XCTAssertNil(read.rows.first?.folds.first?.diagnostics)
        XCTAssertEqual(read.rows.first?.macroF1, results.rows.first?.macroF1)
        XCTAssert(read.diagnosticsFooter().contains("not recorded"), read.diagnosticsFooter())
        XCTAssert(Report.markdown(read).contains("Not recorded"))
    }
}
