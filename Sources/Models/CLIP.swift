// The CLIP ViT-B/16 image encoder (Radford et al. 2021, "Learning Transferable Visual Models From Natural
// Language Supervision") in OpenAI's layout: conv1, class_embedding, positional_embedding, ln_pre,
// transformer.resblocks.N.{ln_1, attn.in_proj_weight, attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj}, ln_post,
// proj. QuickGELU activations. Output: the projected, un-normalised 512-d image embedding.
import NN
import Torch

final class CLIPResidualBlock: Module {
    let ln1: LayerNorm, attn: MultiheadAttention, ln2: LayerNorm, fc: Linear, projection: Linear
    var quantize: ((Tensor) -> Tensor)? {
        didSet { attn.projectionInputTransform = quantize }
    }
    init(width: Int, heads: Int) {
        ln1 = LayerNorm(width)
        attn = MultiheadAttention(dimensions: width, heads: heads)
        ln2 = LayerNorm(width)
        fc = Linear(inputFeatures: width, outputFeatures: width * 4)
        projection = Linear(inputFeatures: width * 4, outputFeatures: width)
        super.init()
        register("ln_1", ln1); register("attn", attn); register("ln_2", ln2)
        let mlp = Module()
        mlp.register("c_fc", fc); mlp.register("c_proj", projection)
        register("mlp", mlp)
        // In INT8 the block runs c_proj(silu(c_fc(y))) with QuickGELU's constant folded into the packed weights.
        fc.int8Fold = (Self.quickGELUScale, Self.quickGELUScale)
        projection.int8Fold = (1 / Self.quickGELUScale, 1)
    }
    override func callAsFunction(_ x: Tensor) -> Tensor {
        let h = x + attn(ln1(x))
        let y = ln2(h)
        if let up = fc.int8Weight, let down = projection.int8Weight, usesInt8(y) {
            // QuickGELU(z) = silu(1.702 z) / 1.702: the two constants live in the packed weights (`int8Fold`, set in
            // init), one fused op remains.
            return h + down(up(y).silu())
        }
        if let up = fc.bf16Weight, let down = projection.bf16Weight, quantize == nil, usesInt8(y) {
            // In bf16 the 3072-wide hidden layer stays bf16 between the two products (one cast in, one out).
            let hidden = linear(y.to(.bfloat16), weight: up.weight, bias: up.bias).quickGelu()
            return h + linear(hidden, weight: down.weight, bias: down.bias).to(y.dtype)
        }
        let q = quantize ?? { $0 }
        return h + projection(q(fc(q(y)).quickGelu()))
    }
    static let quickGELUScale = 1.702
}

/// CLIP's visual transformer. Feature hooks: "resblocks.0" ... ; `attentionModules` for rollout.
public final class CLIPVisionTransformer: Module {
    public let patch: Int, width: Int, imageSize: Int, outputDimensions: Int
    let blocks: [CLIPResidualBlock]
    public init(imageSize: Int = 224, patch: Int = 16, width: Int = 768, layers: Int = 12, heads: Int = 12, outputDimensions: Int = 512) {
        self.patch = patch
        self.width = width
        self.imageSize = imageSize
        self.outputDimensions = outputDimensions
        blocks = (0..<layers).map { _ in CLIPResidualBlock(width: width, heads: heads) }
        super.init()
        register("conv1", Conv2d(inputChannels: 3, outputChannels: width, kernelSize: patch, stride: patch, bias: false))
        let scale = 1 / Double(width).squareRoot()
        let grid = imageSize / patch
        Init.normal_(registerParameter("class_embedding", Tensor.empty([width])), std: scale)
        Init.normal_(registerParameter("positional_embedding", Tensor.empty([grid * grid + 1, width])), std: scale)
        register("ln_pre", LayerNorm(width))
        let transformer = Module()
        transformer.register("resblocks", Sequential(blocks))
        register("transformer", transformer)
        register("ln_post", LayerNorm(width))
        Init.normal_(registerParameter("proj", Tensor.empty([width, outputDimensions])), std: scale)
    }
    public override var featureNames: [String] { blocks.indices.map { "resblocks.\($0)" } }
    /// The output reads only the class token, so the last block's patch tokens get no gradient: explain the one before.
    public override var explanationFeature: String? { blocks.count > 1 ? "resblocks.\(blocks.count - 2)" : nil }
    public var attentionModules: [MultiheadAttention] { blocks.map(\.attn) }
    /// Quantise activations before every projection as onnxruntime's dynamic INT8 does, to reproduce the
    /// imported INT8 encoder exactly (per-tensor, so results depend on the batch: use batches of one).
    public var emulatesDynamicInt8 = false {
        didSet {
            let q: ((Tensor) -> Tensor)? = emulatesDynamicInt8 ? { fakeQuantizeDynamicUInt8($0) } : nil
            for b in blocks { b.quantize = q }
        }
    }

    public override func callAsFunction(_ x: Tensor) -> Tensor {
        let h = tokens(x, blockOutputs: nil)
        let cls0 = module(at: "ln_post")!(h.select(axis: 1, index: 0))
        return (emulatesDynamicInt8 ? fakeQuantizeDynamicUInt8(cls0) : cls0).matmul(parameter("proj"))
    }

    /// The class token after every block, [N, width] each (block 0 first): the intermediate features that carry
    /// low-level generator traces the final embedding has mostly abstracted away.
    public func classTokens(_ x: Tensor) -> [Tensor] {
        var out: [Tensor] = []
        _ = tokens(x) { out.append($0.select(axis: 1, index: 0)) }
        return out
    }

    /// The token sequence after the last block (or after block `last`, where the encoder then stops); `blockOutputs`
    /// sees each block's output in turn.
    func tokens(_ x: Tensor, through last: Int? = nil, blockOutputs: ((Tensor) -> Void)?) -> Tensor {
        let n = x.size(0)
        let p = module(at: "conv1")!(x)
        let grid = (p.size(2), p.size(3))
        // [N, W, h, w] -> [N, h*w, W]
        var h = p.flattened(start: 2).transposed(1, 2)
        let cls = parameter("class_embedding").reshaped([1, 1, width]).expanded([n, 1, width])
        h = concatenated([cls, h], axis: 1)
        let pos = resizedPositionEmbedding(parameter("positional_embedding").unsqueezed(axis: 0), grid: imageSize / patch, newGrid: grid)
        h = module(at: "ln_pre")!(h + pos)
        for (i, b) in blocks.prefix((last ?? blocks.count - 1) + 1).enumerated() {
            h = hooked("resblocks.\(i)", b(h))
            blockOutputs?(h)
        }
        return h
    }
}

/// CLIP image encoder with a linear probe head: logits = head(embedding / |embedding|).
/// (UniversalFakeDetect-style detector; the encoder is usually frozen.)
public final class CLIPProbe: Module {
    public let encoder: CLIPVisionTransformer
    public let head: Linear
    public init(classes: Int = 1) {
        encoder = CLIPVisionTransformer()
        head = Linear(inputFeatures: 512, outputFeatures: classes)
        super.init()
        register("encoder", encoder)
        register("head", head)
    }
    // The encoder's blocks are reached as "encoder.resblocks.N" through the child module (`setFeatureHook` walks
    // the tree); re-exporting them here installed hooks on this module, which never calls them.
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        let e = encoder(x)
        return head(e / e.norm(axes: [1], keepDims: true).clamped(min: 1e-12))
    }
}

/// CLIP image encoder with a linear head on the class tokens of every block (each layer-normalised without
/// affine parameters, then concatenated): the head learns its own weighting across blocks. Middle blocks keep
/// more of the low-level traces that tell generated images apart across generators (Koutlis & Papadopoulos 2024,
/// "Leveraging representations from intermediate encoder-blocks for synthetic image detection").
public final class CLIPLayersProbe: Module {
    public let encoder: CLIPVisionTransformer
    public let head: Linear
    public init(classes: Int = 1) {
        encoder = CLIPVisionTransformer()
        head = Linear(inputFeatures: encoder.width * encoder.featureNames.count, outputFeatures: classes)
        super.init()
        register("encoder", encoder)
        register("head", head)
    }
    /// [N, 3, H, W] -> [N, blocks x width]: every block's class token, normalised per token.
    public func layerFeatures(_ x: Tensor) -> Tensor {
        let w = encoder.width
        return concatenated(encoder.classTokens(x).map { layerNorm($0, normalizedShape: [w], weight: nil, bias: nil) }, axis: 1)
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor { head(layerFeatures(x)) }
}

let clipEntries: [ModelEntry] = [
    ModelEntry(name: "clip_vit_b16", summary: "CLIP ViT-B/16 image encoder + linear probe", reference: "Radford et al. 2021",
               defaultClasses: 1, preprocessing: .clip, dense: false) { CLIPProbe(classes: $0.classes ?? 1) },
    ModelEntry(name: "clip_vit_b16_layers", summary: "CLIP ViT-B/16 image encoder + linear head on every block's class token",
               reference: "Koutlis & Papadopoulos 2024 (RINE)", defaultClasses: 1, preprocessing: .clip, dense: false) { CLIPLayersProbe(classes: $0.classes ?? 1) },
    ModelEntry(name: "clip_patch_localiser", summary: "CLIP ViT-B/16 image encoder (frozen) + per-pixel head on the patch tokens of blocks 4, 8 and 12",
               reference: "Ojha et al. 2023 (UnivFD: frozen CLIP features for detection)", defaultClasses: 1,
               preprocessing: Preprocessing(inputSize: 224, mean: Preprocessing.clip.mean, std: Preprocessing.clip.std, policy: .native),
               dense: true) { CLIPPatchLocaliser(inputSize: $0.inputSize ?? 224) },
]

extension CLIPVisionTransformer {
    /// The whole token sequence (class token first, then the patches row by row) after each block in `blocks`
    /// (0-based), [N, 1 + h*w, width] each, in the order asked; the encoder runs only as far as the last one asked.
    public func blockTokens(_ x: Tensor, blocks wanted: [Int]) -> [Tensor] {
        precondition(wanted.allSatisfy { blocks.indices.contains($0) }, "blockTokens: blocks \(wanted) outside 0..<\(blocks.count)")
        guard let last = wanted.max() else { return [] }
        var outputs: [Tensor] = []
        _ = tokens(x, through: last) { outputs.append($0) }
        return wanted.map { outputs[$0] }
    }
}

/// A per-pixel localiser on the frozen CLIP ViT-B/16 encoder (issue 16: "a per-pixel head on the default detector's
/// frozen features"): the patch tokens of blocks `taps` (each layer-normalised without affine, as the default
/// detector's head reads its class tokens), concatenated, go through a per-token projection and two convolutions on
/// the patch grid (14x14 at 224 px); the grid's logits are upsampled bilinearly to the input's size. The input (any
/// size) is resized to `inputSize` for the encoder (224, or larger for a finer grid: the position embedding is
/// interpolated). Only `head.*` is trained (`PatchLocaliserTrainer` on cached tokens); the encoder's weights are the
/// default detector's.
public final class CLIPPatchLocaliser: Module {
    public let encoder: CLIPVisionTransformer
    public let taps: [Int]
    let projection: Linear, spatial: Conv2d, output: Conv2d
    public static let defaultTaps = [3, 7, 11]
    /// The side the encoder sees.
    public let inputSize: Int
    public init(taps: [Int] = CLIPPatchLocaliser.defaultTaps, hidden: Int = 256, inputSize: Int = 224) {
        encoder = CLIPVisionTransformer()
        self.taps = taps
        self.inputSize = inputSize
        projection = Linear(inputFeatures: encoder.width * taps.count, outputFeatures: hidden)
        spatial = Conv2d(inputChannels: hidden, outputChannels: 64, kernelSize: 3, padding: 1)
        output = Conv2d(inputChannels: 64, outputChannels: 1, kernelSize: 1)
        super.init()
        register("encoder", encoder)
        let head = Module()
        head.register("projection", projection); head.register("spatial", spatial); head.register("output", output)
        register("head", head)
    }
    /// Features of `x` (already at `inputSize`): [N, h*w, width * taps], the class token dropped.
    public func patchFeatures(_ x: Tensor) -> Tensor {
        let w = encoder.width
        let tokens = encoder.blockTokens(x, blocks: taps).map { t in
            layerNorm(t.slice(axis: 1, start: 1, end: t.size(1)), normalizedShape: [w], weight: nil, bias: nil)
        }
        return concatenated(tokens, axis: 2)
    }
    /// The head on `patchFeatures`: logits on the patch grid, [N, 1, g, g].
    public func gridLogits(_ features: Tensor) -> Tensor {
        let n = features.size(0), tokens = features.size(1)
        let g = Int(Double(tokens).squareRoot().rounded())
        precondition(g * g == tokens, "gridLogits: \(tokens) tokens are not a square grid")
        let h = projection(features).transposed(1, 2).reshaped([n, -1, g, g]).gelu()
        return output(spatial(h).gelu())
    }
    /// [N, 3, H, W] normalised as CLIP's input -> [N, 1, H, W] logits.
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        let (height, width) = (x.size(2), x.size(3))
        let input = height == inputSize && width == inputSize ? x : interpolate(x, size: (inputSize, inputSize), mode: .bilinear)
        return interpolate(gridLogits(patchFeatures(input)), size: (height, width), mode: .bilinear)
    }
}
