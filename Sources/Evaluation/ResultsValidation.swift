// results.json checked on load like any other input (it may be hand-edited or damaged): `report` indexes its
// arrays by class and by repeat, so a hand-edited or damaged file (a negative repeat index, a
// per-class array shorter than the class list) must be refused with the file and the field named,
// never reach an out-of-range index.

import Foundation

extension ComparisonResults {
    /// Throws `EvaluationError.badFile` naming `file` and the first inconsistent field.
    public func validate(file: String) throws {
        func fail(_ problem: String) -> EvaluationError { .badFile(file: file, line: 0, problem: "results.json: \(problem)") }
        let classCount = classes.count
        guard classCount >= 1, Set(classes).count == classCount else { throw fail("classes \(classes) must be distinct and not empty") }
        guard classNames.count == classCount else { throw fail("\(classNames.count) class names for \(classCount) classes") }
        guard classCounts.count == classCount, classCounts.allSatisfy({ $0 >= 0 }) else {
            throw fail("classCounts \(classCounts) must be \(classCount) counts >= 0")
        }
        guard (2...1000).contains(settings.foldCount), (1...1000).contains(settings.repeats) else {
            throw fail("settings: \(settings.foldCount) folds x \(settings.repeats) repeats is outside 2-1000 x 1-1000")
        }
        let known = Set(classes)
        for row in rows {
            func rowFail(_ problem: String) -> EvaluationError { fail("row '\(row.name)': \(problem)") }
            let pooled = row.pooled
            guard pooled.classes == classes else { throw rowFail("pooled classes \(pooled.classes) differ from \(classes)") }
            guard pooled.confusion.count == classCount, pooled.confusion.allSatisfy({ $0.count == classCount && $0.allSatisfy { $0 >= 0 } }) else {
                throw rowFail("the pooled confusion matrix is not \(classCount) x \(classCount) counts >= 0")
            }
            for (name, array) in [("support", pooled.support.map(Double.init)), ("precision", pooled.precision),
                                  ("recall", pooled.recall), ("perClassF1", pooled.perClassF1)] where array.count != classCount {
                throw rowFail("pooled \(name) has \(array.count) values for \(classCount) classes")
            }
            guard Set(pooled.neverPredicted).isSubset(of: known) else { throw rowFail("neverPredicted \(pooled.neverPredicted) names unknown classes") }
            guard row.folds.count <= settings.foldCount * settings.repeats else {
                throw rowFail("\(row.folds.count) folds for \(settings.foldCount) folds x \(settings.repeats) repeats")
            }
            for fold in row.folds {
                guard (0..<settings.repeats).contains(fold.repeatIndex), (0..<settings.foldCount).contains(fold.foldIndex) else {
                    throw rowFail("fold (repeat \(fold.repeatIndex), fold \(fold.foldIndex)) is outside \(settings.repeats) repeats x \(settings.foldCount) folds")
                }
                guard fold.perClassF1.count == classCount, fold.testClassCounts.count == classCount, fold.testClassCounts.allSatisfy({ $0 >= 0 }) else {
                    throw rowFail("fold (repeat \(fold.repeatIndex), fold \(fold.foldIndex)) has \(fold.perClassF1.count) F1 scores and "
                                  + "\(fold.testClassCounts.count) class counts for \(classCount) classes")
                }
                guard Set(fold.neverPredicted).isSubset(of: known) else {
                    throw rowFail("fold (repeat \(fold.repeatIndex), fold \(fold.foldIndex)) neverPredicted names unknown classes")
                }
            }
        }
    }
}
