import Foundation
import Testing
import TestSupport
@testable import Models
@testable import NN
@testable import Torch

/// Every registered model: forward shape, finite output, a gradient on every parameter, state-dict round trip.
struct RegistryTests {
    /// Small inputs that keep the suite fast on 2 cores (ViTs resize position embeddings to the grid).
    static func testInput(_ e: ModelEntry) -> [Int] {
        switch e.name {
        case "fcn_resnet50": return [2, 3, 40, 48]
        case "unet_small": return [2, 3, 40, 36]
        case _ where e.name.hasPrefix("vit_") && e.name.hasSuffix("224"), "clip_vit_b16", "clip_vit_b16_layers": return [2, 3, 32, 48]
        case _ where e.preprocessing.inputSize <= 32: return [2, 3, 32, 32]
        default: return [2, 3, 64, 64]
        }
    }

    @Test func registryIsComplete() {
        let expected = ["mlp_baseline", "lenet_baseline", "cifake_cnn", "resnet18", "resnet34", "resnet50", "resnext50_32x4d",
                        "resnext101_32x8d", "swin_tiny_patch4_window7_224", "swin_small_patch4_window7_224",
                        "resnet20", "resnet32", "resnet44", "resnet56", "vit_tiny_patch16_224", "vit_small_patch16_224",
                        "vit_base_patch16_224", "vit_tiny_patch4_32", "fcn_resnet50", "unet_small", "efficientnet_lite0", "clip_vit_b16",
                        "clip_vit_b16_layers", "clip_patch_localiser"]
        #expect(Set(ModelRegistry.names) == Set(expected))
        #expect(throws: ModelError.self) { try ModelRegistry.create("resnet999") }
        #expect((try? ModelRegistry.entry("resnet18.aidetect_v1"))?.name == "resnet18")
    }

    @Test("forward, gradients and state dict", arguments: ModelRegistry.names)
    func model(_ name: String) throws {
        let entry = try ModelRegistry.entry(name)
        Runtime.threads = 2
        let model = entry.make()
        model.train()
        let shape = Self.testInput(entry)
        let x = Generator(seed: 1).randn(shape)
        let y = model(x)
        if entry.dense {
            #expect(y.shape == [shape[0], entry.defaultClasses, shape[2], shape[3]])
        } else {
            #expect(y.shape == [shape[0], entry.defaultClasses])
        }
        #expect(y.isfinite().all().item() == 1, "\(name) produced non-finite values")
        (y * y).mean().backward()
        // The multi-layer CLIP head reads the blocks' class tokens and the CLIP localiser their patch tokens, not the
        // encoder's projected embedding: its final LayerNorm and projection are kept (the encoder stays loadable from
        // CLIP's weights) but unused.
        let unused: Set<String> = ["clip_vit_b16_layers", "clip_patch_localiser"].contains(name)
            ? ["encoder.proj", "encoder.ln_post.weight", "encoder.ln_post.bias"] : []
        let withoutGrad = model.namedParameters().filter { $0.1.grad == nil && !unused.contains($0.0) }.map(\.0)
        #expect(withoutGrad.isEmpty, "\(name): no gradient for \(withoutGrad.prefix(5))")
        let bad = model.namedParameters().filter { ($0.1.grad?.isfinite().all().item() ?? 1) != 1 }.map(\.0)
        #expect(bad.isEmpty, "\(name): non-finite gradients in \(bad.prefix(5))")

        // state-dict round trip through safetensors bytes into a fresh instance
        model.eval()
        let reference = withNoGrad { model(x) }
        let bytes = try Safetensors.encode(model.stateDict())
        let copy = entry.make()
        try copy.loadStateDict(try Safetensors.decode(bytes).tensors)
        copy.eval()
        let again = withNoGrad { copy(x) }
        #expect(TestSupport.allClose(again, reference, rtol: 0, atol: 0).ok, "\(name): reloaded model differs")
        // every CNN names its last conv stage, every transformer its blocks
        #expect(model.namedModules().contains { !$0.1.featureNames.isEmpty } || name == "mlp_baseline", "\(name) offers no feature hooks")
    }

    @Test func cifakeFamilyIsConfigurable() {
        for layers in 1...3 {
            for filters in [16, 32, 64, 128] {
                let m = CIFAKECNN(convLayers: layers, filters: filters, dense: [32, 64])
                #expect(m(Tensor.zeros([1, 3, 32, 32])).shape == [1, 1])
            }
        }
    }

    @Test func featureHookSeesLastStage() throws {
        let m = try ModelRegistry.create("resnet18")
        m.eval()
        var shape: [Int] = []
        #expect(m.setFeatureHook("layer4") { shape = $0.shape; return $0 })
        _ = withNoGrad { m(Tensor.zeros([1, 3, 64, 64])) }
        #expect(shape == [1, 512, 2, 2])
        let clip = try ModelRegistry.create("clip_vit_b16")
        clip.eval()
        // The hook must land on the module that calls it (the encoder), not only be accepted.
        var reached = false
        #expect(clip.setFeatureHook("encoder.resblocks.11") { reached = true; return $0 })
        _ = withNoGrad { clip(Tensor.zeros([1, 3, 224, 224])) }
        #expect(reached, "the CLIP probe's block hook was never called")
    }

    /// The multi-layer CLIP head reads every block's class token: the features are the 12 tokens, each
    /// layer-normalised, and the logit is the head on them; the encoder's final embedding is unchanged.
    @Test func clipLayersReadsEveryBlocksClassToken() throws {
        let m = try #require(Generator(seed: 2).withInitialization { try ModelRegistry.create("clip_vit_b16_layers") } as? CLIPLayersProbe)
        m.eval()
        let x = Generator(seed: 3).randn([1, 3, 32, 48])
        let tokens = withNoGrad { m.encoder.classTokens(x) }
        #expect(tokens.count == 12 && tokens.allSatisfy { $0.shape == [1, 768] })
        let f = withNoGrad { m.layerFeatures(x) }
        #expect(f.shape == [1, 12 * 768])
        let block5 = f.slice(axis: 1, start: 5 * 768, end: 6 * 768)
        #expect(abs(block5.mean().item()) < 1e-4 && abs(block5.std().item() - 1) < 1e-2, "each block's token is layer-normalised")
        let expected = withNoGrad { layerNorm(tokens[5], normalizedShape: [768], weight: nil, bias: nil) }
        #expect(TestSupport.allClose(block5, expected).ok)
        #expect(TestSupport.allClose(withNoGrad { m(x) }, withNoGrad { m.head(f) }).ok)
        var reached = false
        #expect(m.setFeatureHook("encoder.resblocks.10") { reached = true; return $0 })
        _ = withNoGrad { m(x) }
        #expect(reached)
    }

    /// Swin at sizes that are not multiples of the window: the patch embedding and the windows pad (as timm's dynamic
    /// path does), a stage that fits in one window does not shift, and each stage's hook sees NCHW.
    @Test func swinTakesAnySizeAndHooksSeeStages() throws {
        let m = try #require(try ModelRegistry.create("swin_tiny_patch4_window7_224") as? SwinTransformer)
        m.eval()
        var shapes: [String: [Int]] = [:]
        for i in 0..<4 { #expect(m.setFeatureHook("layers.\(i)") { shapes["layers.\(i)"] = $0.shape; return $0 }) }
        let y = withNoGrad { m(Generator(seed: 4).randn([1, 3, 70, 50])) }
        #expect(y.shape == [1, 1] && y.isfinite().all().item() == 1)
        // 70x50 -> patches 18x13 -> 9x7 -> 5x4 -> 3x2
        #expect(shapes["layers.0"] == [1, 96, 18, 13])
        #expect(shapes["layers.3"] == [1, 768, 3, 2])
    }

    /// The shifted-window mask separates exactly the tokens that the cyclic roll brought together: on a 14x14 grid
    /// with 7x7 windows and a shift of 3, tokens of the top-left window all came from one region, while the bottom-right
    /// window mixes four regions (rows and columns 7-10 vs 11-13 of the rolled map).
    @Test func swinShiftMaskSeparatesRolledRegions() {
        let block = SwinBlock(dimensions: 8, heads: 2, window: 7, shift: 3)
        let mask = block.attentionMask(height: 14, width: 14, shiftY: 3, shiftX: 3)!
        #expect(mask.shape == [4, 49, 49])
        #expect(mask[0].abs().sum().item() == 0, "the top-left window holds one region")
        let last = mask[3]
        // token (0,0) of the last window (rolled row 7, col 7) vs token (4,4) (row 11, col 11): different regions
        #expect(last[0][4 * 7 + 4].item() == -100)
        #expect(last[0][3 * 7 + 3].item() == 0, "rows and columns 7-10 are one region")
        #expect(block.attentionMask(height: 14, width: 14, shiftY: 0, shiftX: 0) == nil)
        #expect(SwinWindowAttention.relativePositionIndex(window: 2) == [4, 3, 1, 0, 5, 4, 2, 1, 7, 6, 4, 3, 8, 7, 5, 4])
    }
}
