import Detection
import Foundation
import Imaging
import Models
import NN
import Testing
import TestSupport
import Torch

@testable import Explain

/// Issue 16: the per-pixel head on frozen CLIP patch tokens (`clip_patch_localiser`).
struct PatchLocaliserTests {
    /// Any input size gives a map of that size; the tokens of a block are the encoder's own (its class token is the one
    /// `classTokens` returns); the head alone has gradients, the encoder none.
    @Test func mapsAnySizeFromTheEncodersTokens() throws {
        let model = Generator(seed: 1).withInitialization { CLIPPatchLocaliser() }
        model.eval()
        let x = Tensor.randn([1, 3, 40, 52])
        let out = withNoGrad { model(x) }
        #expect(out.shape == [1, 1, 40, 52])
        let x224 = Tensor.randn([2, 3, 224, 224])
        let (tokens, classes) = withNoGrad { (model.encoder.blockTokens(x224, blocks: [11, 3]), model.encoder.classTokens(x224)) }
        #expect(tokens.count == 2 && tokens[0].shape == [2, 197, 768])
        #expect(((tokens[0].select(axis: 1, index: 0) - classes[11]).abs().max().item() as Double) < 1e-5)
        #expect(((tokens[1].select(axis: 1, index: 0) - classes[3]).abs().max().item() as Double) < 1e-5)
        #expect(withNoGrad { model.patchFeatures(x224) }.shape == [2, 196, 3 * 768])
        #expect(try ModelRegistry.entry("clip_patch_localiser").dense)
    }

    /// On a toy splice set: tokens are embedded once and cached, the head trains (finite losses, the encoder
    /// untouched), a rerun with more epochs resumes from the checkpoint and reads the cache, and the result is a
    /// localiser file that `Localiser` loads and uses (a mask at the image's size, a fitted threshold).
    @Test func trainsOnCachedTokensAndResumes() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("patch-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let (reals, fakes) = try toySpliceSources(root, count: 30, side: 40, seed: 5)
        var b = SpliceSetBuilder()
        b.count = 48; b.size = 32; b.pristineFraction = 0.4; b.feather = 1
        let set = root.appendingPathComponent("set").path
        let items = try b.write(reals: reals, fakes: fakes, to: set)
        #expect(items.contains { $0.split == "validation" && !$0.isPristine } && items.contains { $0.split == "validation" && $0.isPristine },
                "\(items.map { "\($0.split):\($0.shape)" })")
        // A random encoder, as a model file whose encoder.* tensors are it (what models/clip-probe.safetensors is).
        let encoder = Generator(seed: 2).withInitialization { CLIPVisionTransformer() }
        let weights = root.appendingPathComponent("encoder.safetensors").path
        try Safetensors.save(encoder.stateDict().reduce(into: [:]) { $0["encoder." + $1.key] = $1.value }, path: weights)

        var c = PatchLocaliserTrainer.Config(data: set, encoderWeights: weights)
        c.epochs = 2; c.batchSize = 8; c.lossSize = 16
        let run = root.appendingPathComponent("run").path
        var lines: [String] = []
        var t = PatchLocaliserTrainer(config: c, directory: run)
        t.log = { lines.append($0) }
        let first = try t.run()
        #expect(first.count == 2 && first.allSatisfy { $0.trainLoss.isFinite && $0.validationF1 >= 0 && $0.validationF1 <= 1 })
        #expect(FileManager.default.fileExists(atPath: run + "/tokens-train.safetensors"))
        #expect(!lines.contains { $0.contains("from the cache") })

        c.epochs = 3
        t = PatchLocaliserTrainer(config: c, directory: run)
        lines = []
        t.log = { lines.append($0) }
        let second = try t.run()
        #expect(second.count == 3 && second.prefix(2).map(\.trainLoss) == first.map(\.trainLoss), "resumed, not restarted")
        #expect(lines.contains { $0.contains("resumed after epoch 2") } && lines.filter { $0.contains("from the cache") }.count == 2)

        let (saved, meta) = try Safetensors.load(path: t.modelPath)
        #expect(meta["aidetect.model"] == "clip_patch_localiser")
        // The encoder in the file is the one it was given (stored as float16).
        let w = "encoder.transformer.resblocks.5.mlp.c_fc.weight"
        #expect(((saved[w]!.to(.float32) - encoder.stateDict()["transformer.resblocks.5.mlp.c_fc.weight"]!).abs().max().item() as Double) < 1e-2)
        let localiser = try Localiser(path: t.modelPath)
        #expect(localiser.threshold != nil, "the image-level threshold is fitted on validation: \(lines.suffix(2))")
        let image = try ImageDecoder().decode(path: "\(set)/\(items[0].image)").image
        let (result, mask) = localiser.localise(image)
        #expect(mask.width == image.width && mask.height == image.height)
        #expect(result.model.contains("run/best.safetensors"))
    }
}
