// Swin Transformer (Liu et al. 2021, "Swin Transformer: Hierarchical Vision Transformer using Shifted Windows"),
// in timm's layout (patch_embed.{proj, norm}, layers.N.{downsample.{norm, reduction}, blocks.M.{norm1,
// attn.{qkv, proj, relative_position_bias_table}, norm2, mlp.fc1, mlp.fc2}}, norm, head.fc), so timm checkpoints
// map one-to-one. Like timm, tokens stay channels-last ([N, H, W, C]) between stages; the relative position index
// and the shifted-window mask are derived, not stored (timm keeps them as non-persistent buffers).
// Any input size works: the patch embedding and every window partition pad right and bottom as timm's dynamic
// path does, and a stage whose grid fits in one window does not shift (timm's rule at construction).
import Foundation
import NN
import Torch

/// Window attention with a learned relative position bias (timm's `WindowAttention`).
public final class SwinWindowAttention: Module {
    public let heads: Int, window: Int
    public let qkv: Linear, proj: Linear
    /// [window² * window²] indices into the bias table, int64 (timm's relative_position_index, flattened).
    private var relativeIndex: Tensor

    public init(dimensions: Int, heads: Int, window: Int) {
        precondition(dimensions % heads == 0, "SwinWindowAttention: \(dimensions) not divisible by \(heads) heads")
        self.heads = heads
        self.window = window
        qkv = Linear(inputFeatures: dimensions, outputFeatures: dimensions * 3)
        proj = Linear(inputFeatures: dimensions, outputFeatures: dimensions)
        relativeIndex = Tensor(Self.relativePositionIndex(window: window))
        super.init()
        register("qkv", qkv)
        register("proj", proj)
        let table = registerParameter("relative_position_bias_table",
                                      Tensor.zeros([(2 * window - 1) * (2 * window - 1), heads]))
        Init.truncNormal_(table, std: 0.02)
    }

    /// timm's get_relative_position_index for a square window, row-major over (query token, key token).
    static func relativePositionIndex(window w: Int) -> [Int64] {
        let n = w * w
        var out = [Int64](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0..<n {
                let dy = i / w - j / w + w - 1, dx = i % w - j % w + w - 1
                out[i * n + j] = Int64(dy * (2 * w - 1) + dx)
            }
        }
        return out
    }

    /// x [B*nW, N, C] (N = window²); mask [nW, N, N] additive (0 / -100) or nil -> [B*nW, N, C].
    public func callAsFunction(_ x: Tensor, mask: Tensor?) -> Tensor {
        let b = x.size(0), n = x.size(1), c = x.size(2)
        // [B_, N, 3C] -> [B_, N, 3, H, hd] -> [3, B_, H, N, hd]
        let qkvT = qkv(x).reshaped([b, n, 3, heads, c / heads]).permuted([2, 0, 3, 1, 4])
        // table [(2w-1)², H] -> [N*N, H] -> [N, N, H] -> [H, N, N] -> [1, H, N, N]
        let table = parameter("relative_position_bias_table")
        // The index is derived, not a parameter: it follows the table to its device (CUDA) on first use there.
        if relativeIndex.device != table.device { relativeIndex = relativeIndex.to(device: table.device) }
        var bias = table.indexSelect(axis: 0, relativeIndex)
            .reshaped([n, n, heads]).permuted([2, 0, 1]).unsqueezed(axis: 0)
        if let mask {
            let windows = mask.size(0)
            // [nW, N, N] -> [1, nW, 1, N, N] -> [B, nW, H, N, N] -> [B_, H, N, N]
            bias = (bias.unsqueezed(axis: 0) + mask.to(device: bias.device).reshaped([1, windows, 1, n, n]))
                .expanded([b / windows, windows, heads, n, n]).reshaped([b, heads, n, n])
        }
        let out = scaledDotProductAttention(query: qkvT[0], key: qkvT[1], value: qkvT[2], mask: bias)
        // [B_, H, N, hd] -> [B_, N, H, hd] -> [B_, N, C]
        return proj(out.transposed(1, 2).reshaped([b, n, c]))
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor { self(x, mask: nil) }
}

/// One Swin block: (shifted) window attention and an MLP, both pre-norm with residuals, on [N, H, W, C].
public final class SwinBlock: Module {
    public let window: Int, shift: Int
    public let norm1: LayerNorm, attn: SwinWindowAttention, norm2: LayerNorm, fc1: Linear, fc2: Linear
    private var maskCache: (key: [Int], mask: Tensor)?

    public init(dimensions: Int, heads: Int, window: Int, shift: Int, mlpRatio: Double = 4) {
        self.window = window
        self.shift = shift
        norm1 = LayerNorm(dimensions)
        attn = SwinWindowAttention(dimensions: dimensions, heads: heads, window: window)
        norm2 = LayerNorm(dimensions)
        let hidden = Int(Double(dimensions) * mlpRatio)
        fc1 = Linear(inputFeatures: dimensions, outputFeatures: hidden)
        fc2 = Linear(inputFeatures: hidden, outputFeatures: dimensions)
        super.init()
        register("norm1", norm1); register("attn", attn); register("norm2", norm2)
        let mlp = Module()
        mlp.register("fc1", fc1); mlp.register("fc2", fc2)
        register("mlp", mlp)
    }

    /// timm's shifted-window mask for a padded grid: tokens of one window that came from different regions of
    /// the rolled map may not attend to each other (-100). [nW, N, N], or nil when nothing is shifted.
    func attentionMask(height: Int, width: Int, shiftY: Int, shiftX: Int) -> Tensor? {
        guard shiftY > 0 || shiftX > 0 else { return nil }
        let key = [height, width, shiftY, shiftX]
        if let maskCache, maskCache.key == key { return maskCache.mask }
        func region(_ p: Int, _ size: Int, _ s: Int) -> Int {
            s == 0 ? 0 : (p < size - window ? 0 : (p < size - s ? 1 : 2))
        }
        let w = window, n = w * w, rows = height / w, cols = width / w
        var out = [Float](repeating: 0, count: rows * cols * n * n)
        var labels = [Int](repeating: 0, count: n)
        for wy in 0..<rows {
            for wx in 0..<cols {
                for t in 0..<n {
                    labels[t] = region(wy * w + t / w, height, shiftY) * 3 + region(wx * w + t % w, width, shiftX)
                }
                let base = (wy * cols + wx) * n * n
                for i in 0..<n { for j in 0..<n where labels[i] != labels[j] { out[base + i * n + j] = -100 } }
            }
        }
        let mask = Tensor(out, shape: [rows * cols, n, n])
        maskCache = (key, mask)
        return mask
    }

    /// [N, H, W, C] -> [N * windows, w*w, C] (timm's window_partition), H and W multiples of the window.
    private func partitioned(_ x: Tensor) -> Tensor {
        let b = x.size(0), h = x.size(1), wd = x.size(2), c = x.size(3), w = window
        // [N, H/w, w, W/w, w, C] -> [N, H/w, W/w, w, w, C] -> [N*nW, w*w, C]
        return x.reshaped([b, h / w, w, wd / w, w, c]).permuted([0, 1, 3, 2, 4, 5]).reshaped([-1, w * w, c])
    }
    /// The inverse of `partitioned` for a batch of `b` maps of h x wd.
    private func merged(_ x: Tensor, batch b: Int, height h: Int, width wd: Int) -> Tensor {
        let w = window, c = x.size(2)
        // [N*nW, w*w, C] -> [N, H/w, W/w, w, w, C] -> [N, H/w, w, W/w, w, C] -> [N, H, W, C]
        return x.reshaped([b, h / w, wd / w, w, w, c]).permuted([0, 1, 3, 2, 4, 5]).reshaped([b, h, wd, c])
    }

    public override func callAsFunction(_ x: Tensor) -> Tensor {
        let b = x.size(0), h = x.size(1), wd = x.size(2)
        // timm: no shift along a side that fits in one window.
        let sy = h <= window ? 0 : shift, sx = wd <= window ? 0 : shift
        var y = norm1(x)
        if sy > 0 || sx > 0 { y = y.rolled(shifts: [-sy, -sx], axes: [1, 2]) }
        let padH = (window - h % window) % window, padW = (window - wd % window) % window
        if padH > 0 || padW > 0 { y = y.padded([0, 0, 0, padW, 0, padH]) }
        let hp = h + padH, wp = wd + padW
        let mask = attentionMask(height: hp, width: wp, shiftY: sy, shiftX: sx)
        y = merged(attn(partitioned(y), mask: mask), batch: b, height: hp, width: wp)
        if padH > 0 || padW > 0 { y = y.slice(axis: 1, end: h).slice(axis: 2, end: wd) }
        if sy > 0 || sx > 0 { y = y.rolled(shifts: [sy, sx], axes: [1, 2]) }
        let r = x + y
        return r + fc2(fc1(norm2(r)).gelu())
    }
}

/// timm's PatchMerging: 2x2 neighbours concatenated (x0 = (0,0), x1 = (1,0), x2 = (0,1), x3 = (1,1)), normalised,
/// projected to twice the channels. [N, H, W, C] -> [N, ceil(H/2), ceil(W/2), 2C].
public final class SwinPatchMerging: Module {
    public init(dimensions: Int) {
        super.init()
        register("norm", LayerNorm(4 * dimensions))
        register("reduction", Linear(inputFeatures: 4 * dimensions, outputFeatures: 2 * dimensions, bias: false))
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        var x = x
        if x.size(1) % 2 == 1 || x.size(2) % 2 == 1 { x = x.padded([0, 0, 0, x.size(2) % 2, 0, x.size(1) % 2]) }
        let b = x.size(0), h = x.size(1), w = x.size(2), c = x.size(3)
        // [N, H/2, 2(dy), W/2, 2(dx), C] -> [N, H/2, W/2, dx, dy, C] -> [N, H/2, W/2, 4C]
        let m = x.reshaped([b, h / 2, 2, w / 2, 2, c]).permuted([0, 1, 3, 4, 2, 5]).reshaped([b, h / 2, w / 2, 4 * c])
        return module(at: "reduction")!(module(at: "norm")!(m))
    }
}

/// A Swin classifier. Feature hooks: "layers.0" ... "layers.3", each stage's output as [N, C, H, W].
public final class SwinTransformer: Module {
    public let patch: Int, window: Int, depths: [Int]
    public let stages: [Module]
    public let featureChannels: Int

    public init(patch: Int = 4, embed: Int = 96, depths: [Int], heads: [Int], window: Int = 7, classes: Int) {
        precondition(depths.count == heads.count, "SwinTransformer: \(depths.count) stages but \(heads.count) head counts")
        self.patch = patch
        self.window = window
        self.depths = depths
        featureChannels = embed << (depths.count - 1)
        var stages: [Module] = []
        for (i, depth) in depths.enumerated() {
            let stage = Module()
            let dim = embed << i
            if i > 0 { stage.register("downsample", SwinPatchMerging(dimensions: dim / 2)) }
            stage.register("blocks", Sequential((0..<depth).map {
                SwinBlock(dimensions: dim, heads: heads[i], window: window, shift: $0 % 2 == 1 ? window / 2 : 0)
            }))
            stages.append(stage)
        }
        self.stages = stages
        super.init()
        let pe = Module()
        pe.register("proj", Conv2d(inputChannels: 3, outputChannels: embed, kernelSize: patch, stride: patch))
        pe.register("norm", LayerNorm(embed))
        register("patch_embed", pe)
        register("layers", Sequential(stages))
        register("norm", LayerNorm(featureChannels))
        let head = Module()
        head.register("fc", Linear(inputFeatures: featureChannels, outputFeatures: classes))
        register("head", head)
        // timm: trunc_normal_(std=0.02) for Linear weights, zero biases.
        for (_, m) in namedModules() {
            if let l = m as? Linear {
                Init.truncNormal_(l.weight, std: 0.02)
                if let b = l.bias { Init.constant_(b, 0) }
            }
        }
    }

    public override var featureNames: [String] { (0..<depths.count).map { "layers.\($0)" } }

    /// Final normalised tokens, channels last: [N, 3, H, W] -> [N, H/32, W/32, C] (sides rounded up).
    public func features(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.size(1) == 3, "SwinTransformer: input \(x.shape) must be [N, 3, H, W]")
        var x = x
        let padH = (patch - x.size(2) % patch) % patch, padW = (patch - x.size(3) % patch) % patch
        if padH > 0 || padW > 0 { x = x.padded([0, padW, 0, padH]) }
        // [N, C, h, w] -> [N, h, w, C]
        var h = module(at: "patch_embed.norm")!(module(at: "patch_embed.proj")!(x).permuted([0, 2, 3, 1]))
        for (i, stage) in stages.enumerated() {
            if let d = stage.module(at: "downsample") { h = d(h) }
            h = stage.module(at: "blocks")!(h)
            if featureHooks["layers.\(i)"] != nil {
                // Hooks see NCHW like every CNN stage: [N, H, W, C] -> [N, C, H, W] and back.
                h = hooked("layers.\(i)", h.permuted([0, 3, 1, 2])).permuted([0, 2, 3, 1])
            }
        }
        return module(at: "norm")!(h)
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        // timm's ClassifierHead: average over the grid, then fc.
        module(at: "head.fc")!(features(x).mean(axes: [1, 2]))
    }
}

let swinEntries: [ModelEntry] = [
    ("swin_tiny_patch4_window7_224", "Swin-T", [2, 2, 6, 2]), ("swin_small_patch4_window7_224", "Swin-S", [2, 2, 18, 2]),
].map { name, label, depths in
    ModelEntry(name: name, summary: "\(label): 4 px patches, 7x7 shifted windows, 96-d, stages \(depths) (timm layout)",
               reference: "Liu et al. 2021", defaultClasses: 1,
               preprocessing: Preprocessing(inputSize: 224, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225],
                                            policy: .resizeCenterCrop, interpolation: "bicubic", cropFraction: 0.9),
               dense: false) {
        SwinTransformer(depths: depths, heads: [3, 6, 12, 24], classes: $0.classes ?? 1)
    }
}
