import CTorch

/// Process-wide LibTorch settings.
public enum Runtime {
    /// Intra-op threads LibTorch uses (set at load time to the core count, or `AIDETECT_THREADS`).
    public static var threads: Int {
        get { Int(ctorch_get_num_threads()) }
        set { ctorch_set_num_threads(Int32(max(1, newValue))) }
    }
    public static var cudaAvailable: Bool { ctorch_cuda_is_available() != 0 }
    public static var cudaDeviceCount: Int { Int(ctorch_cuda_device_count()) }
    /// The linked LibTorch version.
    public static var version: String { String(cString: ctorch_version()) }
    /// Seeds LibTorch's default CPU generator (dropout, `rand`, `randn`, init, shuffles).
    public static func manualSeed(_ seed: UInt64) { ctorch_manual_seed(seed) }
}

/// Runs `body` with gradient recording off (like `torch.no_grad()`), restoring the previous mode.
public func withNoGrad<R>(_ body: () throws -> R) rethrows -> R {
    let previous = ctorch_is_grad_enabled()
    ctorch_set_grad_enabled(0)
    defer { ctorch_set_grad_enabled(previous) }
    return try body()
}

/// Runs `body` with gradient recording on.
public func withGrad<R>(_ body: () throws -> R) rethrows -> R {
    let previous = ctorch_is_grad_enabled()
    ctorch_set_grad_enabled(1)
    defer { ctorch_set_grad_enabled(previous) }
    return try body()
}

public var isGradEnabled: Bool { ctorch_is_grad_enabled() != 0 }
