import CTorch
import Foundation

/// A LibTorch failure surfaced as a Swift error (see `withTorchErrors`).
public struct TorchError: Error, CustomStringConvertible, Sendable {
    /// LibTorch's message, without its C++ backtrace.
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "LibTorch error: \(message)" }
}

extension TorchError: LocalizedError {
    public var errorDescription: String? { description }
}


/// Checks a shim return code. Outside `withTorchErrors` a failure traps with LibTorch's message
/// (a shape bug is a programming error); inside, the first failure is recorded and thrown at scope exit.
@inline(__always)
func check(_ rc: Int32) {
    if rc != 0 { failed() }
}

@inline(never)
func failed() {
    let message = ctorch_last_error().map { String(cString: $0) } ?? "unknown LibTorch error"
    ctorch_clear_error()
    if ctorch_catch_depth() > 0 {
        ctorch_catch_record(message)
        return
    }
    fatalError("LibTorch: \(message)")
}

/// Runs `body` turning LibTorch failures into a thrown `TorchError` instead of a trap.
///
/// Tensors produced after the first failure are undefined; the error is thrown when `body` returns.
/// ```swift
/// let y = try withTorchErrors { x.matmul(w) }   // throws on a shape mismatch
/// ```
public func withTorchErrors<R>(_ body: () throws -> R) throws -> R {
    ctorch_catch_push()
    let result: R
    do {
        result = try body()
    } catch {
        if let p = ctorch_catch_pop() { free(p) }
        throw error
    }
    if let p = ctorch_catch_pop() {
        let message = String(cString: p)
        free(p)
        throw TorchError(message)
    }
    return result
}
