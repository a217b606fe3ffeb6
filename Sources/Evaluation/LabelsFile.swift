// The labels CSV: one row per labelled image, an id column and a label column (OxML: `id,malignant`).
// Accepted: a UTF-8 byte-order mark, CRLF line ends, blank lines, spaces around fields, quoted fields.
// Refused with the line number: a missing column, an empty or duplicate id, a label that is not an
// integer (unless labels are names) or not in the allowed set.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How to read a labels file.
public struct LabelsFormat: Sendable, Equatable {
    public var idColumn: String
    public var labelColumn: String
    /// Rows sharing a group id stay in one fold (e.g. the slide a tile came from); nil: every row its own group.
    public var groupColumn: String?
    /// Integer labels outside this set are refused; nil accepts any integer.
    public var allowedLabels: Set<Int>?
    /// Labels are names (e.g. `tumor`, `stroma`): mapped to classes 0, 1, ... in sorted name order.
    public var namedLabels: Bool

    public init(idColumn: String = "id", labelColumn: String = "malignant", groupColumn: String? = nil,
                allowedLabels: Set<Int>? = nil, namedLabels: Bool = false) {
        self.idColumn = idColumn
        self.labelColumn = labelColumn
        self.groupColumn = groupColumn
        self.allowedLabels = allowedLabels
        self.namedLabels = namedLabels
    }
}

/// The labelled rows of a labels file, in file order.
public struct LabelTable: Sendable, Equatable {
    public let file: String
    public let ids: [String]
    public let labels: [Int]
    /// The 1-based CSV line of each row, for error messages.
    public let lines: [Int]
    public let groups: [String]
    /// For named labels: the name of each class; nil for integer labels.
    public let classNames: [Int: String]?

    public init(file: String, ids: [String], labels: [Int], lines: [Int], groups: [String], classNames: [Int: String]? = nil) {
        precondition(ids.count == labels.count && ids.count == lines.count && ids.count == groups.count)
        self.file = file
        self.ids = ids
        self.labels = labels
        self.lines = lines
        self.groups = groups
        self.classNames = classNames
    }

    /// The distinct labels in ascending order (the probability columns of every head).
    public var classes: [Int] { Array(Set(labels)).sorted() }

    /// A printable name of a class: its name for named labels, else the integer.
    public func name(ofClass label: Int) -> String { classNames?[label] ?? String(label) }

    public func count(ofClass label: Int) -> Int { labels.reduce(0) { $0 + ($1 == label ? 1 : 0) } }

    /// Reads and checks a labels file.
    public static func read(_ url: URL, format: LabelsFormat = LabelsFormat()) throws -> LabelTable {
        // Only a regular file is opened: a FIFO would block open(), a device never end.
        if let problem = notRegularFile(url.path) { throw EvaluationError.badFile(file: url.path, line: 0, problem: problem) }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw EvaluationError.badFile(file: url.path, line: 0, problem: "cannot read: \(error.localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw EvaluationError.badFile(file: url.path, line: 0, problem: "not UTF-8 text")
        }
        return try parse(text, file: url.path, format: format)
    }

    /// Parses labels CSV text; `file` names it in errors.
    public static func parse(_ text: String, file: String, format: LabelsFormat = LabelsFormat()) throws -> LabelTable {
        let records = try CSVRecords.parse(text, file: file)
        guard let header = records.first else {
            throw EvaluationError.badFile(file: file, line: 0, problem: "empty file: expected a header `\(format.idColumn),\(format.labelColumn)`")
        }
        func column(_ name: String) throws -> Int {
            guard let index = header.fields.firstIndex(of: name) else {
                throw EvaluationError.badFile(file: file, line: header.line,
                    problem: "missing column `\(name)` (header has: \(header.fields.joined(separator: ", ")))")
            }
            return index
        }
        // A column named twice would silently use its first copy.
        for name in [format.idColumn, format.labelColumn] + (format.groupColumn.map { [$0] } ?? []) where header.fields.filter({ $0 == name }).count > 1 {
            throw EvaluationError.badFile(file: file, line: header.line, problem: "column `\(name)` appears \(header.fields.filter { $0 == name }.count) times in the header")
        }
        let idIndex = try column(format.idColumn)
        let labelIndex = try column(format.labelColumn)
        let groupIndex = try format.groupColumn.map(column)

        var ids: [String] = [], rawLabels: [String] = [], lines: [Int] = [], groups: [String] = []
        var firstLine: [String: Int] = [:]
        for record in records.dropFirst() {
            let needed = max(idIndex, labelIndex, groupIndex ?? 0) + 1
            guard record.fields.count >= needed else {
                throw EvaluationError.badFile(file: file, line: record.line,
                    problem: "expected \(header.fields.count) fields, found \(record.fields.count)")
            }
            let id = record.fields[idIndex]
            guard !id.isEmpty else { throw EvaluationError.badFile(file: file, line: record.line, problem: "empty id") }
            if let earlier = firstLine[id] {
                throw EvaluationError.badFile(file: file, line: record.line, problem: "duplicate id `\(id)` (first on line \(earlier))")
            }
            firstLine[id] = record.line
            let label = record.fields[labelIndex]
            guard !label.isEmpty else { throw EvaluationError.badFile(file: file, line: record.line, problem: "empty label for id `\(id)`") }
            ids.append(id); rawLabels.append(label); lines.append(record.line)
            groups.append(groupIndex.map { record.fields[$0] } ?? id)
        }
        guard !ids.isEmpty else { throw EvaluationError.badFile(file: file, line: 0, problem: "no labelled rows") }

        if format.namedLabels {
            let names = Array(Set(rawLabels)).sorted()
            let classOf = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
            let labels = rawLabels.map { classOf[$0] ?? 0 }
            let classNames = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($0, $1) })
            return LabelTable(file: file, ids: ids, labels: labels, lines: lines, groups: groups, classNames: classNames)
        }
        var labels: [Int] = []
        for (row, raw) in rawLabels.enumerated() {
            guard let value = Int(raw) else {
                throw EvaluationError.badFile(file: file, line: lines[row],
                    problem: "label `\(raw)` of id `\(ids[row])` is not an integer (for names such as `tumor`, read labels as names: --label-names)")
            }
            if let allowed = format.allowedLabels, !allowed.contains(value) {
                throw EvaluationError.badFile(file: file, line: lines[row],
                    problem: "label \(value) of id `\(ids[row])` is not one of \(allowed.sorted().map(String.init).joined(separator: ", "))")
            }
            labels.append(value)
        }
        return LabelTable(file: file, ids: ids, labels: labels, lines: lines, groups: groups)
    }
}

/// Minimal RFC 4180 reading: records with their starting line; blank lines skipped; fields trimmed.
struct CSVRecords {
    struct Record { var line: Int; var fields: [String] }

    static func parse(_ text: String, file: String) throws -> [Record] {
        var body = Substring(text)
        if body.hasPrefix("\u{FEFF}") { body = body.dropFirst() }
        var records: [Record] = []
        var fields: [String] = [], field = "", quoted = false, inQuotes = false, fieldWasQuoted = false
        var line = 1, recordLine = 1
        var characters = Array(body.unicodeScalars)
        characters.append("\n")
        var index = 0
        func endField() {
            fields.append(fieldWasQuoted ? field : field.trimmingCharacters(in: .whitespaces))
            field = ""; quoted = false; fieldWasQuoted = false
        }
        while index < characters.count {
            let c = characters[index]
            if inQuotes {
                if c == "\"" {
                    if index + 1 < characters.count && characters[index + 1] == "\"" { field.unicodeScalars.append("\""); index += 1 }
                    else { inQuotes = false }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
            } else if c == "\"" && field.trimmingCharacters(in: .whitespaces).isEmpty && !quoted {
                inQuotes = true; quoted = true; fieldWasQuoted = true; field = ""
            } else if c == "," {
                endField()
            } else if c == "\n" || c == "\r" {
                if c == "\r" && index + 1 < characters.count && characters[index + 1] == "\n" { index += 1 }
                endField()
                let blank = fields.allSatisfy { $0.isEmpty }
                if !blank { records.append(Record(line: recordLine, fields: fields)) }
                fields = []
                line += 1
                recordLine = line
            } else if quoted {
                if c != " " && c != "\t" {
                    throw EvaluationError.badFile(file: file, line: line, problem: "text after a closing quote")
                }
            } else {
                field.unicodeScalars.append(c)
            }
            index += 1
        }
        if inQuotes { throw EvaluationError.badFile(file: file, line: recordLine, problem: "unterminated quoted field") }
        return records
    }
}

/// Why `path` is not a regular file (symbolic links followed), or nil; stat(2) never blocks.
func notRegularFile(_ path: String) -> String? {
    var status = stat()
    guard stat(path, &status) == 0 else { return "cannot read: \(String(cString: strerror(errno)))" }
    switch status.st_mode & S_IFMT {
    case S_IFREG: return nil
    case S_IFDIR: return "is a directory, not a file"
    case S_IFIFO: return "is a named pipe (FIFO), not a regular file"
    case S_IFCHR, S_IFBLK: return "is a device, not a regular file"
    default: return "is not a regular file"
    }
}
