import XCTest
import Evaluation

final class FoldsTests: XCTestCase {
    let oxmlLabels = [Int](repeating: -1, count: 36) + [Int](repeating: 0, count: 14) + [Int](repeating: 1, count: 12)

    func testStratifiedFoldsPartitionAndBalanceEveryClass() throws {
        let folds = try StratifiedFolds.make(labels: oxmlLabels, foldCount: 8, repeats: 3, seed: 0)
        XCTAssertEqual(folds.count, 24)
        for repeatIndex in 0..<3 {
            let ofRepeat = folds.filter { $0.repeatIndex == repeatIndex }
            XCTAssertEqual(ofRepeat.flatMap(\.testRows).sorted(), Array(0..<62))
            for fold in ofRepeat {
                XCTAssertEqual(Set(fold.trainRows).intersection(fold.testRows), [])
                XCTAssertEqual(fold.trainRows.count + fold.testRows.count, 62)
                for (label, total) in [(-1, 36), (0, 14), (1, 12)] {
                    let count = fold.testRows.filter { oxmlLabels[$0] == label }.count
                    XCTAssertTrue(count == total / 8 || count == (total + 7) / 8, "class \(label): \(count) in a fold")
                }
                XCTAssertTrue((7...8).contains(fold.testRows.count))
            }
        }
        // Repeats differ, and the same seed reproduces the same folds.
        XCTAssertNotEqual(folds[0].testRows, folds[8].testRows)
        XCTAssertEqual(try StratifiedFolds.make(labels: oxmlLabels, foldCount: 8, repeats: 3, seed: 0), folds)
        XCTAssertNotEqual(try StratifiedFolds.make(labels: oxmlLabels, foldCount: 8, repeats: 1, seed: 1)[0].testRows, folds[0].testRows)
    }

    func testGroupsStayInOneFold() throws {
        // 20 images, each with 4 variants (rows), labels per image.
        let imageLabels = (0..<20).map { $0 % 3 == 0 ? 1 : 0 }
        var labels: [Int] = [], groups: [String] = []
        for (image, label) in imageLabels.enumerated() { for _ in 0..<4 { labels.append(label); groups.append("image\(image)") } }
        let folds = try StratifiedFolds.make(labels: labels, groups: groups, foldCount: 5, repeats: 2, seed: 7)
        for fold in folds {
            let testGroups = Set(fold.testRows.map { groups[$0] })
            let trainGroups = Set(fold.trainRows.map { groups[$0] })
            XCTAssertEqual(testGroups.intersection(trainGroups), [])
            XCTAssertTrue(fold.testRows.contains { labels[$0] == 1 } && fold.testRows.contains { labels[$0] == 0 })
        }
    }

    func testClassSmallerThanFoldCountIsAClearError() {
        XCTAssertThrowsError(try StratifiedFolds.make(labels: [0, 0, 0, 0, 1, 1, 1], foldCount: 4, seed: 0)) { error in
            XCTAssertEqual(error as? EvaluationError, .classTooSmall(classCounts: ["0": 4, "1": 3], foldCount: 4))
            XCTAssertTrue(error.localizedDescription.contains("1: 3"), error.localizedDescription)
        }
    }
}
