// The competition file: header `id,malignant` (the labels file's column names), one row per
// unlabelled image (the images in the folder minus the labelled ids), an integer label from the
// labels' class set, sorted by numeric id; `probabilities.csv` beside it. Both written atomically.
// The validator refuses, with the line number, what the competition would refuse.

import Foundation
import FeatureStore
import Heads
import LinearAlgebra

public enum Submission {
    public static let imageExtensions: Set<String> = ["png", "jpg", "jpeg", "tif", "tiff"]

    /// The image ids (file names without extension) of the images in `directory`, sorted.
    public static func imageIDs(in directory: URL) throws -> [String] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory.path) } catch {
            throw EvaluationError.badFile(file: directory.path, line: 0, problem: "cannot list images: \(error.localizedDescription)")
        }
        let ids = names.filter { !$0.hasPrefix(".") && imageExtensions.contains(($0 as NSString).pathExtension.lowercased()) }
            .map { IdentifierKey.stem($0) }.sorted()
        guard !ids.isEmpty else { throw EvaluationError.badFile(file: directory.path, line: 0, problem: "no images (png, jpg, tif) in this folder") }
        return ids
    }

    /// The submission ids expected for `images`: every image whose id is not labelled, sorted.
    public static func expectedIDs(images: [String], labels: LabelTable, source: String) throws -> [String] {
        let alignment = try Alignment.align(featureIDs: images, featureSource: source, labels: labels)
        let ids = alignment.unlabelledFeatureRows.map { alignment.submissionIDs[$0] }
        return sortedIdentifierOrder(ids).map { ids[$0] }
    }

    /// Writes `submission` (label per id) and `probabilities.csv` beside it. Rows sorted by id.
    public static func write(ids: [String], probabilities: Matrix, classes: [Int], labels: LabelTable,
                             format: LabelsFormat, to url: URL) throws -> [Int] {
        precondition(ids.count == probabilities.rows && probabilities.columns == classes.count)
        let predicted = argmaxLabels(probabilities, classes: classes)
        let order = sortedIdentifierOrder(ids)
        var submission = "\(format.idColumn),\(format.labelColumn)\n"
        var table = "\(format.idColumn)," + classes.map { "p_\(csvField(labels.name(ofClass: $0)))" }.joined(separator: ",") + ",\(format.labelColumn)\n"
        for row in order {
            let label = labels.name(ofClass: predicted[row])
            submission += "\(csvField(ids[row])),\(csvField(label))\n"
            table += "\(csvField(ids[row]))," + (0..<classes.count).map { String(format: "%.6f", probabilities[row, $0]) }.joined(separator: ",")
                + ",\(csvField(label))\n"
        }
        // One group: a full disk or an unwritable folder leaves both previous files byte-identical.
        try createOutputFolder(url.deletingLastPathComponent())
        try writeAtomically([(Data(table.utf8), probabilitiesURL(for: url)), (Data(submission.utf8), url)])
        return order.map { predicted[$0] }
    }

    public static func probabilitiesURL(for submission: URL) -> URL {
        submission.deletingLastPathComponent().appendingPathComponent("probabilities.csv")
    }

    public struct Summary: Sendable, Equatable {
        public let rows: Int
        /// Rows per label, in the labels' class order.
        public let counts: [String: Int]
    }

    /// Checks a submission file against the labels and the image folder's ids.
    public static func validate(_ url: URL, labels: LabelTable, images: [String], format: LabelsFormat) throws -> Summary {
        let file = url.path
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw EvaluationError.badFile(file: file, line: 0, problem: "cannot read: \(error.localizedDescription)")
        }
        let records = try CSVRecords.parse(text, file: file)
        let expectedHeader = [format.idColumn, format.labelColumn]
        guard let header = records.first else { throw EvaluationError.badFile(file: file, line: 0, problem: "empty file: expected the header `\(expectedHeader.joined(separator: ","))`") }
        guard header.fields == expectedHeader else {
            throw EvaluationError.badFile(file: file, line: header.line,
                problem: "header is `\(header.fields.joined(separator: ","))`, expected exactly `\(expectedHeader.joined(separator: ","))`")
        }
        let expected = try expectedIDs(images: images, labels: labels, source: "the image folder")
        let expectedSet = Set(expected)
        let labelledSet = Set(labels.ids)
        // Labels are written as in the labels file: integers, or names for named labels.
        let allowed: [String: Int] = Dictionary(uniqueKeysWithValues: labels.classes.map { (labels.name(ofClass: $0), $0) })
        var seen: [String: Int] = [:]
        var counts: [String: Int] = [:]
        for record in records.dropFirst() {
            guard record.fields.count == 2 else {
                throw EvaluationError.badFile(file: file, line: record.line, problem: "expected 2 fields, found \(record.fields.count)")
            }
            let id = record.fields[0], label = record.fields[1]
            if let first = seen[id] {
                throw EvaluationError.badFile(file: file, line: record.line, problem: "duplicate id `\(id)` (first on line \(first))")
            }
            seen[id] = record.line
            guard expectedSet.contains(id) else {
                let why = labelledSet.contains(id) ? "is a labelled image (training set), not a test image" : "is not an image of the folder"
                throw EvaluationError.badFile(file: file, line: record.line, problem: "id `\(id)` \(why)")
            }
            guard allowed[label] != nil else {
                let set = labels.classes.map { labels.name(ofClass: $0) }.joined(separator: ", ")
                throw EvaluationError.badFile(file: file, line: record.line, problem: "label `\(label)` of id `\(id)` is not one of \(set)")
            }
            counts[label, default: 0] += 1
        }
        let missing = expected.filter { seen[$0] == nil }
        if !missing.isEmpty {
            throw EvaluationError.badFile(file: file, line: 0,
                problem: "\(missing.count) of \(expected.count) test images have no row: \(missing.prefix(8).joined(separator: ", "))\(missing.count > 8 ? ", ..." : "")")
        }
        return Summary(rows: seen.count, counts: counts)
    }
}
