// Vision Transformers (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words"), in timm's layout
// (patch_embed.proj, cls_token, pos_embed, blocks.N.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2},
// norm, head), so timm checkpoints map one-to-one. Position embeddings are resized (bicubic) when the
// input's patch grid differs from the one trained, so any size divisible by the patch works.
import Foundation
import NN
import Torch

/// timm's Attention: fused qkv projection, `proj` output. Keeps the attention map when asked (rollout).
public final class ViTAttention: Module {
    public let heads: Int
    public let qkv: Linear, proj: Linear
    public var keepAttention = false
    /// [N, heads, T, T] from the last call when `keepAttention` is set.
    public private(set) var lastAttention: Tensor?

    public init(dimensions: Int, heads: Int) {
        precondition(dimensions % heads == 0, "ViTAttention: \(dimensions) not divisible by \(heads) heads")
        self.heads = heads
        qkv = Linear(inputFeatures: dimensions, outputFeatures: dimensions * 3)
        proj = Linear(inputFeatures: dimensions, outputFeatures: dimensions)
        super.init()
        register("qkv", qkv)
        register("proj", proj)
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        let n = x.size(0), t = x.size(1), d = x.size(2), hd = d / heads
        // [N, T, 3D] -> [N, T, 3, H, hd] -> [3, N, H, T, hd]
        let qkvT = qkv(x).reshaped([n, t, 3, heads, hd]).permuted([2, 0, 3, 1, 4])
        let q = qkvT[0], k = qkvT[1], v = qkvT[2]
        let attn = (q.matmul(k.transposed(-2, -1)) * (1 / Double(hd).squareRoot())).softmax(axis: -1)
        lastAttention = keepAttention ? attn.detached() : nil
        // [N, H, T, hd] -> [N, T, H, hd] -> [N, T, D]
        return proj(attn.matmul(v).transposed(1, 2).reshaped([n, t, d]))
    }
}

public final class ViTBlock: Module {
    public let norm1: LayerNorm, attn: ViTAttention, norm2: LayerNorm, fc1: Linear, fc2: Linear
    public init(dimensions: Int, heads: Int, mlpRatio: Double = 4) {
        norm1 = LayerNorm(dimensions, eps: 1e-6)
        attn = ViTAttention(dimensions: dimensions, heads: heads)
        norm2 = LayerNorm(dimensions, eps: 1e-6)
        let hidden = Int(Double(dimensions) * mlpRatio)
        fc1 = Linear(inputFeatures: dimensions, outputFeatures: hidden)
        fc2 = Linear(inputFeatures: hidden, outputFeatures: dimensions)
        super.init()
        register("norm1", norm1); register("attn", attn); register("norm2", norm2)
        let mlp = Module()
        mlp.register("fc1", fc1); mlp.register("fc2", fc2)
        register("mlp", mlp)
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        let h = x + attn(norm1(x))
        return h + fc2(fc1(norm2(h)).gelu())
    }
}

/// Resizes learned position embeddings [1, 1 + g*g, D] to a new grid (bicubic, as timm does).
func resizedPositionEmbedding(_ pos: Tensor, grid: Int, newGrid: (Int, Int)) -> Tensor {
    if newGrid == (grid, grid) { return pos }
    let d = pos.size(2)
    let cls = pos.slice(axis: 1, start: 0, end: 1)
    // [1, g*g, D] -> [1, g, g, D] -> [1, D, g, g]
    let patches = pos.slice(axis: 1, start: 1).reshaped([1, grid, grid, d]).permuted([0, 3, 1, 2])
    let resized = interpolate(patches, size: newGrid, mode: .bicubic)
    // [1, D, h, w] -> [1, h, w, D] -> [1, h*w, D]
    return concatenated([cls, resized.permuted([0, 2, 3, 1]).reshaped([1, newGrid.0 * newGrid.1, d])], axis: 1)
}

/// A ViT classifier. Feature hooks: "blocks.0" ... "blocks.{depth-1}" (token sequences [N, T, D]).
public final class VisionTransformer: Module {
    public let patch: Int, dimensions: Int, depth: Int, imageSize: Int
    public let blocks: [ViTBlock]
    public init(imageSize: Int = 224, patch: Int = 16, dimensions: Int, depth: Int, heads: Int, classes: Int) {
        self.patch = patch
        self.dimensions = dimensions
        self.depth = depth
        self.imageSize = imageSize
        blocks = (0..<depth).map { _ in ViTBlock(dimensions: dimensions, heads: heads) }
        super.init()
        let pe = Module()
        pe.register("proj", Conv2d(inputChannels: 3, outputChannels: dimensions, kernelSize: patch, stride: patch))
        register("patch_embed", pe)
        let grid = imageSize / patch
        Init.truncNormal_(registerParameter("pos_embed", Tensor.empty([1, grid * grid + 1, dimensions])))
        Init.normal_(registerParameter("cls_token", Tensor.empty([1, 1, dimensions])), std: 1e-6)
        let seq = Sequential(blocks)
        register("blocks", seq)
        register("norm", LayerNorm(dimensions, eps: 1e-6))
        register("head", Linear(inputFeatures: dimensions, outputFeatures: classes))
        for (_, m) in namedModules() {
            if let l = m as? Linear {
                Init.truncNormal_(l.weight)
                if let b = l.bias { Init.constant_(b, 0) }
            }
        }
    }
    public override var featureNames: [String] { (0..<depth).map { "blocks.\($0)" } }
    /// The head reads only the class token, so the last block's patch tokens get no gradient: explain the one before.
    public override var explanationFeature: String? { depth > 1 ? "blocks.\(depth - 2)" : nil }
    /// Every block's attention module (for attention rollout).
    public var attentionModules: [ViTAttention] { blocks.map(\.attn) }

    /// Token sequence after the final norm, [N, 1 + patches, D].
    public func tokens(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.size(2) % patch == 0 && x.size(3) % patch == 0,
                     "VisionTransformer: input \(x.shape) must be NCHW with sides divisible by \(patch)")
        let n = x.size(0)
        // [N, D, h, w] -> [N, D, h*w] -> [N, h*w, D]
        let p = module(at: "patch_embed.proj")!(x)
        let grid = (p.size(2), p.size(3))
        var h = p.flattened(start: 2).transposed(1, 2)
        let cls = parameter("cls_token").expanded([n, -1, -1])
        h = concatenated([cls, h], axis: 1)
        h = h + resizedPositionEmbedding(parameter("pos_embed"), grid: imageSize / patch, newGrid: grid)
        for (i, b) in blocks.enumerated() { h = hooked("blocks.\(i)", b(h)) }
        return module(at: "norm")!(h)
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        module(at: "head")!(tokens(x).select(axis: 1, index: 0))
    }
}

let vitEntries: [ModelEntry] = [
    ("vit_tiny_patch16_224", 192, 12, 3), ("vit_small_patch16_224", 384, 12, 6), ("vit_base_patch16_224", 768, 12, 12),
].map { name, dim, depth, heads in
    ModelEntry(name: name, summary: "ViT \(dim)-d, \(depth) blocks, 16 px patches (timm layout)", reference: "Dosovitskiy et al. 2021",
               defaultClasses: 1, preprocessing: Preprocessing(inputSize: 224, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5],
                                                               policy: .resizeCenterCrop, interpolation: "bicubic", cropFraction: 0.9),
               dense: false) {
        VisionTransformer(imageSize: 224, patch: 16, dimensions: dim, depth: depth, heads: heads, classes: $0.classes ?? 1)
    }
} + [
    ModelEntry(name: "vit_tiny_patch4_32", summary: "small ViT for 32 px images: 4 px patches, 192-d, 6 blocks",
               reference: "Dosovitskiy et al. 2021", defaultClasses: 1, preprocessing: .cifar, dense: false) {
        VisionTransformer(imageSize: 32, patch: 4, dimensions: 192, depth: 6, heads: 3, classes: $0.classes ?? 1)
    },
]
