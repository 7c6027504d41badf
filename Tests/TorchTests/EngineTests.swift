import Foundation
import Testing
import TestSupport
@testable import Torch

/// Issue 13: the engine is LibTorch 2.x from the pinned PyPI wheel; CUDA is loaded at run time where installed.
@Suite struct EngineTests {
    @Test func linkedLibTorchIsTheWheelsVersion() throws {
        let lock = try String(contentsOf: TestSupport.repositoryRoot.appendingPathComponent("scripts/libtorch.lock"), encoding: .utf8)
        let pinned = try #require(lock.split(separator: "\n").first { $0.hasPrefix("torch==") })
            .split(separator: " ")[0].dropFirst("torch==".count)
        #expect(Runtime.version == String(pinned), "linked LibTorch \(Runtime.version), pinned \(pinned)")
        #expect(Runtime.version.hasPrefix("2."))
        // Without the CUDA libraries or a GPU the status says why, and nothing is CUDA.
        #expect(!Runtime.cudaStatus.isEmpty)
        if !Runtime.cudaAvailable {
            #expect(Runtime.cudaDeviceCount == 0)
            #expect(Runtime.cudaStatus != "available")
        }
    }

    /// The packed INT8 Linear against fp32 on random data: close, not equal, and shaped like the input.
    @Test func dynamicInt8LinearIsCloseToFloat() throws {
        let g = Generator(seed: 3)
        let w = g.randn([48, 64]) * 0.1, b = g.randn([48]), x = g.randn([2, 5, 64])
        let q = try QuantizedLinearWeight(weight: w, bias: b)
        let y8 = q(x), y32 = linear(x, weight: w, bias: b)
        #expect(y8.shape == [2, 5, 48])
        let rel: Double = ((y8 - y32).norm() / y32.norm()).item()
        #expect(rel > 0 && rel < 0.05, "relative error \(rel)")
        #expect(throws: TorchError.self) { try QuantizedLinearWeight(weight: g.randn([4, 4, 4]), bias: nil) }
    }

    /// Fused attention equals the explicit softmax(q kᵀ/√d) v.
    @Test func scaledDotProductAttentionMatchesTheFormula() {
        let g = Generator(seed: 5)
        let q = g.randn([2, 3, 7, 8]), k = g.randn([2, 3, 9, 8]), v = g.randn([2, 3, 9, 8])
        let explicit = (q.matmul(k.transposed(-2, -1)) * (1 / 8.0.squareRoot())).softmax(axis: -1).matmul(v)
        let fused = scaledDotProductAttention(query: q, key: k, value: v)
        #expect(((fused - explicit).abs().max().item() as Double) < 1e-5)
    }

    static let gpu = Runtime.cudaAvailable
    static let noGPU = "no CUDA device here (\(Runtime.cudaStatus)); scripts/gpu_check.sh runs these on a GPU machine"

    @Test(.enabled(if: gpu, Comment(rawValue: noGPU)))
    func cudaTensorsRoundTripAndCompute() throws {
        let g = Generator(seed: 1)
        let a = g.randn([64, 32]), b = g.randn([32, 16])
        let ga = a.to(device: .cuda(0)), gb = b.to(device: .cuda(0))
        #expect(ga.device == .cuda(0))
        #expect(ga.toArray(Float.self) == a.toArray(Float.self))
        let diff: Double = (ga.matmul(gb).to(device: .cpu) - a.matmul(b)).abs().max().item()
        #expect(diff < 1e-3)
        #expect(Device.best == .cuda(0) || ProcessInfo.processInfo.environment["AIDETECT_DEVICE"] == "cpu")
    }
}
