import CTorch

/// A TorchScript module exported from PyTorch (`torch.jit.save`), run through LibTorch.
public final class ScriptModule: @unchecked Sendable {
    let handle: ctorch_module

    /// Loads a TorchScript archive; throws `TorchError` if it cannot be read.
    public init(path: String) throws {
        var m: ctorch_module?
        if ctorch_jit_load(&m, path) != 0 || m == nil {
            let msg = ctorch_last_error().map { String(cString: $0) } ?? "unknown error"
            ctorch_clear_error()
            throw TorchError("cannot load TorchScript module '\(path)': \(msg)")
        }
        handle = m!
        _ = ctorch_module_eval(handle)
    }
    deinit { ctorch_module_free(handle) }

    /// Runs `forward` (the first tensor of a tuple result is returned).
    public func forward(_ inputs: Tensor...) throws -> Tensor {
        try withTorchErrors {
            withExtendedLifetime((self, inputs)) {
                let hs: [ctorch_tensor?] = inputs.map { $0.handle }
                return Tensor.make { out in hs.withUnsafeBufferPointer { ctorch_module_forward(out, handle, $0.baseAddress, Int64($0.count)) } }
            }
        }
    }
}
