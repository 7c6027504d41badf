import CTorch
import Foundation

/// Process-wide LibTorch settings.
public enum Runtime {
    /// Intra-op threads LibTorch uses (set at load time to the core count, or `AIDETECT_THREADS`).
    public static var threads: Int {
        get { Int(ctorch_get_num_threads()) }
        set { ctorch_set_num_threads(Int32(max(1, newValue))) }
    }
    public static var cudaAvailable: Bool { ctorch_cuda_is_available() != 0 }
    public static var cudaDeviceCount: Int { Int(ctorch_cuda_device_count()) }
    /// Why CUDA is or is not in use: "available", "not installed (scripts/fetch_libtorch.sh cuda)", "installed, no GPU
    /// or driver visible", or the loader's error.
    public static var cudaStatus: String { String(cString: ctorch_cuda_status()) }
    /// The linked LibTorch version.
    public static var version: String { String(cString: ctorch_version()) }
    /// Whether the CPU has `capability` (cpuinfo's name, as LibTorch reads it: "avx512_bf16", "amx_bf16",
    /// "avx512_vnni", ...); nil when cpuinfo does not know the name.
    public static func cpuHas(_ capability: String) -> Bool? {
        switch ctorch_cpu_capability(capability) {
        case 1: return true
        case 0: return false
        default: return nil
        }
    }
    /// The CPU capabilities cpuinfo reports as present.
    public static var cpuCapabilities: [String] {
        let n = Int(ctorch_cpu_capability_names(nil, 0))
        var buf = [CChar](repeating: 0, count: n + 1)
        _ = ctorch_cpu_capability_names(&buf, Int64(buf.count))
        return String(cString: buf).split(separator: " ").map(String.init).sorted()
    }
    /// Whether bfloat16 matrix products have a native path on this CPU (AVX-512 BF16 or AMX), so that `Precision.bf16`
    /// is faster than fp32 rather than emulated.
    public static var cpuHasNativeBF16: Bool { cpuHas("avx512_bf16") == true || cpuHas("amx_bf16") == true }
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

/// A private random stream, independent of the global generator (reproducible under concurrency).
/// Same algorithm as `torch.Generator().manual_seed(seed)`, so draws match PyTorch's.
public final class Generator: @unchecked Sendable {
    let handle: ctorch_generator
    public init(seed: UInt64) {
        var g: ctorch_generator?
        check(ctorch_generator_new(&g, seed))
        handle = g!
    }
    deinit { ctorch_generator_free(handle) }

    private func draw(_ kind: Int32, _ shape: [Int]) -> Tensor {
        let s = shape.map { Int64($0) }
        return withExtendedLifetime(self) { Tensor.make { out in s.withUnsafeBufferPointer { ctorch_random_with(out, handle, kind, $0.baseAddress, Int64($0.count)) } } }
    }
    /// Uniform [0, 1) float32.
    public func rand(_ shape: [Int]) -> Tensor { draw(3, shape) }
    /// Fills `t` in place from U[lo, hi) or N(mean, std) drawn from this generator.
    public func uniform_(_ t: Tensor, _ lo: Double, _ hi: Double) {
        check(withExtendedLifetime((self, t)) { ctorch_random_(t.handle, handle, 0, lo, hi) })
    }
    public func normal_(_ t: Tensor, mean: Double, std: Double) {
        check(withExtendedLifetime((self, t)) { ctorch_random_(t.handle, handle, 1, mean, std) })
    }

    /// The generator weight initialisers on this thread draw from (see `withGenerator`), or nil for the global one.
    public static var current: Generator? { Thread.current.threadDictionary[key] as? Generator }
    static let key = "aidetect.torch.generator"

    /// Runs `body` with `Init` drawing from this generator on this thread, so model construction is
    /// reproducible even while other threads use the global generator.
    public func withInitialization<R>(_ body: () throws -> R) rethrows -> R {
        let previous = Thread.current.threadDictionary[Self.key]
        Thread.current.threadDictionary[Self.key] = self
        defer { Thread.current.threadDictionary[Self.key] = previous }
        return try body()
    }
    /// Standard normal float32.
    public func randn(_ shape: [Int]) -> Tensor { draw(4, shape) }
}
