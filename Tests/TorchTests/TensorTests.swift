import Foundation
import Testing
import TestSupport
@testable import Torch

struct TensorTests {
    @Test func creationAndReadBack() {
        let t = Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        #expect(t.shape == [2, 3])
        #expect(t.dtype == .float32)
        #expect(t.toArray(Float.self) == [1, 2, 3, 4, 5, 6])
        #expect(t.transposed(0, 1).toArray(Float.self) == [1, 4, 2, 5, 3, 6])
        #expect(Tensor.zeros([2, 2], dtype: .int64).toArray(Int64.self) == [0, 0, 0, 0])
        #expect(Tensor.arange(0, 5).toArray(Int64.self) == [0, 1, 2, 3, 4])
        #expect(Tensor(scalar: Float(2.5)).item() == 2.5)
    }

    @Test("dtypes round-trip through bytes", arguments: DType.allCases)
    func dtypes(_ d: DType) {
        let t = Tensor([0, 1, 2, 3] as [Float], shape: [2, 2]).to(d)
        #expect(t.dtype == d)
        #expect(t.bytes().count == 4 * d.size)
        let back: [Double] = t.toArray()
        #expect(back == (d == .bool ? [0, 1, 1, 1] : [0, 1, 2, 3]))
    }

    @Test func integerScalarsKeepIntegerDType() {
        let i = Tensor([1, 2, 3] as [Int64]) + 1
        #expect(i.dtype == .int64)
        #expect(i.toArray(Int64.self) == [2, 3, 4])
    }

    /// Seeded draws repeat. Tested on a `Generator` of its own: the global one (`Runtime.manualSeed`) is shared by every
    /// test running in parallel, so two draws from it can be interleaved with another test's (this test once failed so).
    @Test func seedingIsDeterministic() {
        let a: [Float] = Generator(seed: 42).randn([5]).toArray()
        let b: [Float] = Generator(seed: 42).randn([5]).toArray()
        let c: [Float] = Generator(seed: 43).randn([5]).toArray()
        #expect(a == b && a != c)
    }

    @Test func noGradScope() {
        let x = Tensor.ones([3]).requiringGrad()
        let y = withNoGrad { (x * 2).sum() }
        #expect(!y.requiresGrad)
        #expect((x * 2).sum().requiresGrad)
        #expect(isGradEnabled)
    }

    @Test func backwardAndInputGradients() {
        let x = Tensor([1, 2, 3] as [Float]).requiringGrad()
        (x * x).sum().backward()
        #expect(x.grad!.toArray(Float.self) == [2, 4, 6])
        x.grad = nil
        #expect(x.grad == nil)
        let y = Tensor([1, -2] as [Float]).requiringGrad()
        let g = gradients(of: [(y * 3).relu().sum()], withRespectTo: [y])
        #expect(g[0].toArray(Float.self) == [3, 0])
    }

    @Test func errorsBecomeThrowsInsideScope() {
        let a = Tensor.ones([2, 3]), b = Tensor.ones([4, 5])
        #expect(throws: TorchError.self) { try withTorchErrors { a.matmul(b) } }
        // The scope is closed: a later good op works.
        #expect(a.matmul(Tensor.ones([3, 1])).shape == [2, 1])
        do {
            _ = try withTorchErrors { a.matmul(b) }
            Issue.record("expected an error")
        } catch let e as TorchError {
            #expect(e.message.contains("mat1 and mat2") || e.message.contains("size"), "message: \(e.message)")
        } catch { Issue.record("unexpected \(error)") }
    }

    @Test func safetensorsRoundTrip() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("aidetect-st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("t.safetensors").path
        let tensors: [String: Tensor] = [
            "a": Tensor.randn([3, 4]), "b": Tensor([1, 2] as [Int64]), "c": Tensor.rand([2]).to(.bfloat16),
            "d": Tensor([true, false] as [Bool]), "e": Tensor.zeros([0, 3]),
        ]
        try Safetensors.save(tensors, metadata: ["model": "x"], path: path)
        let (back, meta) = try Safetensors.load(path: path)
        #expect(meta == ["model": "x"])
        #expect(Set(back.keys) == Set(tensors.keys))
        for (k, v) in tensors {
            #expect(back[k]!.shape == v.shape)
            #expect(back[k]!.dtype == v.dtype)
            #expect(back[k]!.bytes() == v.bytes())
        }
    }

    @Test func safetensorsRejectsCorruptFiles() {
        #expect(throws: CheckpointError.self) { try Safetensors.decode(Data([1, 2, 3])) }
        var bad = Data([0xFF, 0, 0, 0, 0, 0, 0, 0])
        bad.append(Data("{}".utf8))
        #expect(throws: CheckpointError.self) { try Safetensors.decode(bad) }
        let header = Data(#"{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#.utf8)
        var truncated = Data()
        var n = UInt64(header.count).littleEndian
        withUnsafeBytes(of: &n) { truncated.append(contentsOf: $0) }
        truncated.append(header)
        truncated.append(Data([0, 0, 0, 0]))
        #expect(throws: CheckpointError.self) { try Safetensors.decode(truncated) }
    }

    @Test func runtimeThreadsConfigurable() {
        let before = Runtime.threads
        Runtime.threads = 1
        #expect(Runtime.threads == 1)
        Runtime.threads = before
        #expect(Runtime.threads == before)
        #expect(!Runtime.version.isEmpty)
    }
}

struct ScriptAndDeviceTests {
    /// A TorchScript module saved by PyTorch runs through LibTorch and gives PyTorch's output.
    @Test func torchScriptModuleRuns() throws {
        let m = try ScriptModule(path: TestSupport.fixture("TorchTests", "scripted.pt"))
        let io = TestSupport.loadFixture("TorchTests", "scripted_io.safetensors")
        let y = try m.forward(io["in"]!)
        let c = TestSupport.allClose(y, io["out"]!)
        #expect(c.ok, "\(c.message)")
        #expect(throws: TorchError.self) { try m.forward(Tensor.zeros([1, 5])) }
        #expect(throws: TorchError.self) { try ScriptModule(path: "/nonexistent.pt") }
    }

    /// Runs only where LibTorch was built with CUDA and a GPU is present (never in CI).
    @Test(.enabled(if: Runtime.cudaAvailable, "needs a CUDA build of LibTorch and a GPU"))
    func cudaRoundTrip() {
        let x = Tensor.randn([4, 4])
        let g = x.to(device: .cuda(0))
        #expect(g.device == .cuda(0))
        #expect((g.matmul(g)).to(device: .cpu).toArray(Float.self).count == 16)
        #expect(TestSupport.allClose(g.to(device: .cpu), x, rtol: 0, atol: 0).ok)
    }
}
