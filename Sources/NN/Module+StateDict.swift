import Foundation
import Torch

extension Module {
    /// Parameters and buffers by PyTorch `state_dict` key (shared storage, not copies).
    public func stateDict() -> [String: Tensor] {
        var d: [String: Tensor] = [:]
        for (k, v) in namedParameters() { d[k] = v }
        for (k, v) in namedBuffers() { d[k] = v }
        return d
    }

    /// Copies `dict` into this module's parameters and buffers (in place, so optimisers keep working).
    ///
    /// - Parameter strict: when true, missing and unexpected keys are errors; otherwise they are ignored
    ///   and returned.
    /// - Throws: `CheckpointError.shapeMismatch(key:expected:actual:)`, `.missingKeys`, `.unexpectedKeys`.
    @discardableResult
    public func loadStateDict(_ dict: [String: Tensor], strict: Bool = true) throws -> (missing: [String], unexpected: [String]) {
        let own = stateDict()
        let missing = own.keys.filter { dict[$0] == nil }.sorted()
        // BatchNorm's num_batches_tracked is optional in older checkpoints.
        let unexpected = dict.keys.filter { own[$0] == nil }.sorted()
        if strict {
            let realMissing = missing.filter { !$0.hasSuffix("num_batches_tracked") }
            if !realMissing.isEmpty { throw CheckpointError.missingKeys(realMissing) }
            if !unexpected.isEmpty { throw CheckpointError.unexpectedKeys(unexpected) }
        }
        for (k, target) in own {
            guard let src = dict[k] else { continue }
            if src.shape != target.shape { throw CheckpointError.shapeMismatch(key: k, expected: target.shape, actual: src.shape) }
        }
        withNoGrad {
            for (k, target) in own {
                if let src = dict[k] { target.copy_(src) }
            }
        }
        return (missing, unexpected)
    }

    /// Saves parameters and buffers as safetensors, with string metadata (model name, preprocessing...).
    public func save(path: String, metadata: [String: String] = [:]) throws {
        try Safetensors.save(stateDict(), metadata: metadata, path: path)
    }
    /// Loads a safetensors checkpoint written by `save(path:)`; returns its metadata.
    @discardableResult
    public func load(path: String, strict: Bool = true) throws -> [String: String] {
        let (t, m) = try Safetensors.load(path: path)
        try loadStateDict(t, strict: strict)
        return m
    }
}
