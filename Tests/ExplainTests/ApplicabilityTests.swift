import Detection
import Foundation
import Imaging
import Models
import NN
import Testing
import TestSupport
import Torch

@testable import Explain

/// Issue 18, points 1 and 5: which methods apply is known before an image is seen; transformers explain the block
/// before the last (the last one's patch tokens get no gradient); stitched maps have no seams and no dark margin.
@Suite struct ApplicabilityTests {
    @Test func methodsThatApplyAreKnownUpFront() throws {
        let cnn = Explainer(model: trainedPatchNet(), preprocessing: toyPreprocessing)
        #expect(cnn.applicableMethods == [.gradcam, .guided, .saliency, .activation])
        #expect(cnn.inapplicability(of: .rollout) != nil && cnn.inapplicability(of: .pixels) != nil)
        let entry = try ModelRegistry.entry("vit_tiny_patch4_32")
        let vit = Explainer(model: Generator(seed: 2).withInitialization { entry.make() }, preprocessing: entry.preprocessing)
        #expect(vit.applicableMethods.contains(.rollout) && vit.applicableMethods.contains(.gradcam))
        #expect(vit.defaultLayer == "blocks.\(vit.layers.count - 2)")
    }

    /// The CLIP probe: its blocks are listed once, Grad-CAM defaults to the block before the last and gives a map
    /// with evidence (the last block's patch tokens would give all zeros), and rollout applies.
    @Test func gradCAMOnTheCLIPProbe() throws {
        let model = Generator(seed: 1).withInitialization { try! ModelRegistry.create("clip_vit_b16") }
        model.eval()
        let e = Explainer(model: model, preprocessing: try ModelRegistry.entry("clip_vit_b16").preprocessing, name: "clip")
        #expect(e.layers == (0..<12).map { "encoder.resblocks.\($0)" })
        #expect(e.defaultLayer == "encoder.resblocks.10")
        #expect(e.applicableMethods.contains(.rollout))
        var rng = SplitMix64(seed: 4)
        let map = try #require(try e.explain(toyImage(width: 224, height: 224, patch: (100, 100), rng: &rng), method: .gradcam).first)
        #expect(map.width == 224 && map.values.contains { $0 > 0 })
    }

    /// Swin (issue 19): its four stages are the layers (NCHW through the hooks), Grad-CAM defaults to the last and
    /// gives a map with evidence; rollout does not apply (windowed attention has no class token to roll out).
    @Test func gradCAMOnSwin() throws {
        let entry = try ModelRegistry.entry("swin_tiny_patch4_window7_224")
        let model = Generator(seed: 1).withInitialization { entry.make() }
        model.eval()
        let e = Explainer(model: model, preprocessing: entry.preprocessing, name: "swin")
        #expect(e.layers == (0..<4).map { "layers.\($0)" })
        #expect(e.defaultLayer == "layers.3" && !e.applicableMethods.contains(.rollout))
        var rng = SplitMix64(seed: 4)
        let map = try #require(try e.explain(toyImage(width: 224, height: 224, patch: (100, 100), rng: &rng), method: .gradcam).first)
        #expect(map.width == 224 && map.values.contains { $0 > 0 })
    }

    /// Views that overlap blend without a step, and the margin a centre crop leaves takes its neighbours' values.
    @Test func stitchedMapsHaveNoSeamsOrMargins() throws {
        let e = Explainer(model: trainedPatchNet(), preprocessing: toyPreprocessing)
        let image = Image(width: 40, height: 10, fill: (0, 0, 0))
        // Two constant views, 0 and 1, overlapping in x 15..<25.
        let maps = [Tensor.zeros([10, 10]), Tensor.ones([10, 10])]
        let boxes = [Explainer.ViewBox(x: 0, y: 0, width: 25, height: 10), Explainer.ViewBox(x: 15, y: 0, width: 25, height: 10)]
        let m = e.stitch(maps, boxes: boxes, image: image, name: "t")
        let row = (0..<40).map { m[$0, 5] }
        let steps = zip(row, row.dropFirst()).map { abs($1 - $0) }
        #expect(row.first == 0 && row.last == 1)
        #expect(steps.max()! < 0.35, "a seam: \(row)")
        // One centre view leaving a 4 px margin: the margin is not left at 0.
        let crop = e.stitch([Tensor.ones([8, 8])], boxes: [Explainer.ViewBox(x: 4, y: 4, width: 32, height: 2)],
                            image: Image(width: 40, height: 10, fill: (0, 0, 0)), name: "c")
        #expect(crop.values.allSatisfy { $0 == 1 }, "\(crop.values)")
    }
}
