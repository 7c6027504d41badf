import Foundation
import Testing
import TestSupport
@testable import NN
@testable import Torch

struct LayerTests {
    static let fx = TestSupport.loadFixture("NNTests", "layers.safetensors")

    @Test func multiheadAttentionMatchesPyTorch() throws {
        let mha = MultiheadAttention(dimensions: 8, heads: 2)
        var sd: [String: Tensor] = [:]
        for (k, v) in Self.fx where k.hasPrefix("mha/param/") { sd[String(k.dropFirst("mha/param/".count))] = v }
        try mha.loadStateDict(sd)
        mha.keepAttention = true
        let x = Self.fx["mha/in"]!
        let y = mha(x)
        let c = TestSupport.allClose(y, Self.fx["mha/out"]!)
        #expect(c.ok, "\(c.message)")
        let a = TestSupport.allClose(mha.lastAttention!, Self.fx["mha/attn"]!)
        #expect(a.ok, "attention: \(a.message)")
        let masked = mha.attend(query: x, key: x, value: x, mask: Self.fx["mha/mask"]!)
        let m = TestSupport.allClose(masked, Self.fx["mha/out_masked"]!)
        #expect(m.ok, "masked: \(m.message)")
    }

    @Test func linearAndConvInitFollowPyTorchBounds() {
        let l = Linear(inputFeatures: 100, outputFeatures: 50)
        let bound = 1 / 100.0.squareRoot()
        #expect(l.weight.abs().max().item() <= bound + 1e-6)
        #expect(l.weight.abs().max().item() > bound * 0.8)
        #expect(l.bias!.abs().max().item() <= bound + 1e-6)
        let c = Conv2d(inputChannels: 4, outputChannels: 8, kernelSize: 3)
        #expect(c.weight.abs().max().item() <= 1 / 36.0.squareRoot() + 1e-6)
        #expect(c.weight.shape == [8, 4, 3, 3])
    }

    @Test func stateDictKeysAndErrors() throws {
        let m = Sequential(Conv2d(inputChannels: 3, outputChannels: 4, kernelSize: 3), BatchNorm2d(features: 4), ReLU(),
                           Flatten(), Linear(inputFeatures: 4, outputFeatures: 2))
        let keys = Set(m.stateDict().keys)
        #expect(keys == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                         "1.num_batches_tracked", "4.weight", "4.bias"])
        var sd = m.stateDict()
        sd["4.weight"] = Tensor.zeros([3, 4])
        do {
            try m.loadStateDict(sd)
            Issue.record("expected a shape mismatch")
        } catch let e as CheckpointError {
            #expect(e == .shapeMismatch(key: "4.weight", expected: [2, 4], actual: [3, 4]))
            #expect(e.localizedDescription.contains("4.weight"))
        }
        sd = m.stateDict()
        sd.removeValue(forKey: "0.bias")
        #expect(throws: CheckpointError.missingKeys(["0.bias"])) { try m.loadStateDict(sd) }
        sd = m.stateDict()
        sd["extra"] = Tensor.zeros([1])
        #expect(throws: CheckpointError.unexpectedKeys(["extra"])) { try m.loadStateDict(sd) }
        let (missing, unexpected) = try m.loadStateDict(sd, strict: false)
        #expect(missing.isEmpty && unexpected == ["extra"])
    }

    @Test func loadCopiesInPlaceAndSaveRoundTrips() throws {
        let a = Linear(inputFeatures: 3, outputFeatures: 2), b = Linear(inputFeatures: 3, outputFeatures: 2)
        let weightRef = b.weight
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nn-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try a.save(path: dir, metadata: ["arch": "linear"])
        let meta = try b.load(path: dir)
        #expect(meta["arch"] == "linear")
        #expect(weightRef.toArray(Float.self) == a.weight.toArray(Float.self))
        #expect(weightRef.requiresGrad)
    }

    @Test func trainEvalModeReachesDropoutAndBatchNorm() {
        let d = Dropout(0.5)
        let m = Sequential(d, BatchNorm(features: 3))
        m.eval()
        let x = Tensor.ones([4, 3])
        #expect(d(x).toArray(Float.self) == x.toArray(Float.self))
        m.train()
        Runtime.manualSeed(1)
        let y: [Float] = d(Tensor.ones([1000])).toArray()
        #expect(Set(y) == [0, 2])
    }

    @Test func featureHooksObserveAndReplace() {
        final class Tiny: Module {
            override var featureNames: [String] { ["mid"] }
            override func callAsFunction(_ x: Tensor) -> Tensor { hooked("mid", x * 2) + 1 }
        }
        let outer = Sequential(Tiny())
        var seen: [Float] = []
        #expect(outer.setFeatureHook("0.mid") { t in seen = t.toArray(); return t * 0 })
        #expect(!outer.setFeatureHook("nope", nil))
        let y = outer(Tensor([1, 2] as [Float]))
        #expect(seen == [2, 4])
        #expect(y.toArray(Float.self) == [1, 1])
    }

    @Test func diceLoss() {
        let p = Tensor([1, 1, 0, 0] as [Float], shape: [1, 4])
        #expect(Torch.diceLoss(p, targets: p, eps: 0).item() < 1e-6)
        let q = Tensor([0, 0, 1, 1] as [Float], shape: [1, 4])
        #expect(abs(Torch.diceLoss(p, targets: q, eps: 1).item() - (1 - 1.0 / 5)) < 1e-6)
    }
}

