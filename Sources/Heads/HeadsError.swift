// The one error type of Heads: every case names the head (or preprocessing step) and the problem.

import Foundation
import LinearAlgebra

public enum HeadsError: Error, LocalizedError {
    case invalidHyperparameter(head: String, name: String, detail: String)
    case shapeMismatch(head: String, detail: String)
    /// A NaN or infinite feature at (row, column) of the matrix given to `fit` or `transform`.
    case nonFiniteFeature(head: String, row: Int, column: Int, value: Double)
    case invalidSampleWeights(head: String, detail: String)
    case emptyTrainingSet(head: String)
    /// Training labels hold a single class: there is nothing to separate.
    case singleClass(head: String, label: Int)
    case linearAlgebra(head: String, underlying: LinearAlgebraError)

    public var errorDescription: String? {
        switch self {
        case let .invalidHyperparameter(head, name, detail): return "\(head): invalid \(name): \(detail)"
        case let .shapeMismatch(head, detail): return "\(head): shape mismatch: \(detail)"
        case let .nonFiniteFeature(head, row, column, value):
            return "\(head): feature at row \(row), column \(column) is \(value); features must be finite"
        case let .invalidSampleWeights(head, detail): return "\(head): invalid sample weights: \(detail)"
        case let .emptyTrainingSet(head): return "\(head): no training rows"
        case let .singleClass(head, label):
            return "\(head): training labels hold only class \(label); at least two classes are needed"
        case let .linearAlgebra(head, underlying): return "\(head): \(underlying.localizedDescription)"
        }
    }
}

/// Runs a linear-algebra step, re-throwing its error tagged with the head's name.
@inline(__always)
func tagged<T>(_ head: String, _ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as LinearAlgebraError { throw HeadsError.linearAlgebra(head: head, underlying: error) }
}
