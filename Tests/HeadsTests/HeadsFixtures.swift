// Loads the fixtures written by scripts/fixtures/heads_fixtures.py (generator version 1) and holds
// the small helpers the head tests share (folds, macro F1).

import Foundation
import LinearAlgebra
import Heads
import XCTest

struct DatasetFixture: Decodable {
    let generatorVersion: Int
    let name: String
    let features: [[Double]]
    let labels: [Int]
    let folds: [[Int]]

    var matrix: Matrix { Matrix(rows: features.count, columns: features.first?.count ?? 0, values: features.flatMap { $0 }) }

    /// (training rows, test rows) of fold `index`; test rows as the generator wrote them.
    func split(_ index: Int) -> (train: [Int], test: [Int]) {
        let test = folds[index]
        let testSet = Set(test)
        return ((0..<labels.count).filter { !testSet.contains($0) }, test)
    }
}

struct SVCCase: Decodable {
    let kernel: String
    let C: Double
    let gamma: Double?
    let classWeight: String
    let decision: [[Double]]
    let supportCount: Int
}

struct GPCPoint: Decodable {
    let amplitudeSquared: Double
    let lengthScale: Double
    let logMarginalLikelihood: Double
    let gradient: [Double]
    let probability: [Double]
}

struct GPCFitted: Decodable {
    let amplitudeSquared: Double
    let lengthScale: Double
    let logMarginalLikelihood: Double
}

struct SoftmaxOptimum: Decodable {
    let l2: Double
    let objective: Double
    let testProbability: [[Double]]
}

struct HistGradientBoostingCase: Decodable {
    let learningRate: Double
    let rounds: Int
    let maxLeafNodes: Int
    let minSamplesLeaf: Int
    let l2: Double
    let prediction: [Int]
    let probability: [[Double]]
}

struct DatasetResults: Decodable {
    let name: String
    let folds: [[Int]]
    let macroF1: [String: [Double]]
    let svcDecision: [SVCCase]
    let gpcBinaryLabelsPositive: Int
    let gpcFixed: [GPCPoint]
    let gpcFittedProbability: [[Double]]
    let gpcFittedModels: [GPCFitted]?
    let softmaxOptimum: SoftmaxOptimum
    let histGradientBoostingFold0: HistGradientBoostingCase
}

struct SklearnResults: Decodable {
    let generatorVersion: Int
    let sklearnVersion: String
    let foldCount: Int
    let datasets: [String: DatasetResults]
}

enum Fixtures {
    static func url(_ name: String) throws -> URL {
        guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures") else {
            throw NSError(domain: "HeadsTests", code: 1, userInfo: [NSLocalizedDescriptionKey:
                "missing fixture \(name).json: run python3 scripts/fixtures/heads_fixtures.py"])
        }
        return url
    }

    static func decode<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(T.self, from: Data(contentsOf: url(name)))
    }

    static func dataset(_ name: String) throws -> DatasetFixture { try decode(DatasetFixture.self, name) }
    static func sklearn() throws -> SklearnResults { try decode(SklearnResults.self, "sklearn_heads") }
}

/// Macro F1 over the classes present in `truth` or `predicted` (scikit-learn's f1_score(average="macro")).
func macroF1(_ truth: [Int], _ predicted: [Int]) -> Double {
    let classes = Set(truth).union(predicted)
    var total = 0.0
    for c in classes {
        var tp = 0.0, fp = 0.0, fn = 0.0
        for (t, p) in zip(truth, predicted) {
            if p == c && t == c { tp += 1 } else if p == c { fp += 1 } else if t == c { fn += 1 }
        }
        total += tp == 0 ? 0 : 2 * tp / (2 * tp + fp + fn)
    }
    return total / Double(classes.count)
}

/// Per-fold macro F1 of `Pipeline([Standardizer()], head)` on the fixture's folds.
func crossValidatedMacroF1(_ head: any Classifier, on data: DatasetFixture) throws -> [Double] {
    let x = data.matrix
    return try (0..<data.folds.count).map { fold in
        let (train, test) = data.split(fold)
        let model = try Pipeline(steps: [Standardizer()], head: head)
            .fit(x.selectingRows(train), labels: train.map { data.labels[$0] }, sampleWeights: nil)
        return macroF1(test.map { data.labels[$0] }, try model.predict(x.selectingRows(test)))
    }
}

func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(max(values.count, 1)) }

/// Asserts mean macro F1 of ours is at least scikit-learn's minus 0.02, and prints both.
func assertMacroF1(_ ours: [Double], reference: [Double], head: String, dataset: String,
                   file: StaticString = #filePath, line: UInt = #line) {
    let message = String(format: "%@ on %@: ours %.4f vs scikit-learn %.4f (8 folds)", head, dataset, mean(ours), mean(reference))
    print(message)
    XCTAssertGreaterThanOrEqual(mean(ours), mean(reference) - 0.02, message, file: file, line: line)
}

/// Standardised fold-0 training and test matrices (as the generator's exact checks used).
func standardisedFold0(_ data: DatasetFixture) throws -> (train: Matrix, trainLabels: [Int], test: Matrix, testLabels: [Int]) {
    let x = data.matrix
    let (train, test) = data.split(0)
    let scaler = try Standardizer().fitStandardizer(x.selectingRows(train))
    return (scaler.transform(x.selectingRows(train)), train.map { data.labels[$0] },
            scaler.transform(x.selectingRows(test)), test.map { data.labels[$0] })
}
