// The one error type of LinearAlgebra: every failure names the operation (and the LAPACK routine).

import Foundation

public enum LinearAlgebraError: Error, LocalizedError, Equatable {
    /// Operand shapes that do not fit together, e.g. "gemm: A is 3 x 4, B is 5 x 2".
    case shapeMismatch(operation: String, detail: String)
    /// Cholesky failed: the leading minor of this order (1-based) is not positive definite.
    case notPositiveDefinite(operation: String, order: Int, size: Int)
    /// A LAPACK routine returned a non-zero `info`.
    case lapackFailure(routine: String, info: Int)
    /// A NaN or infinite entry where a finite one is needed.
    case nonFinite(operation: String, row: Int, column: Int)

    public var errorDescription: String? {
        switch self {
        case let .shapeMismatch(operation, detail):
            return "\(operation): shape mismatch (\(detail))"
        case let .notPositiveDefinite(operation, order, size):
            return "\(operation): the \(size) x \(size) matrix is not positive definite (leading minor of order \(order) fails); add jitter to the diagonal or check the kernel"
        case let .lapackFailure(routine, info):
            return "\(routine) failed with info = \(info)"
        case let .nonFinite(operation, row, column):
            return "\(operation): non-finite value at row \(row), column \(column)"
        }
    }
}
