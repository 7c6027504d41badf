import Foundation
import Torch

/// y = x W^T + b (torch.nn.Linear). Keys: `weight` [out, in], `bias` [out].
public final class Linear: Module {
    public let inputFeatures: Int, outputFeatures: Int
    public init(inputFeatures: Int, outputFeatures: Int, bias: Bool = true) {
        self.inputFeatures = inputFeatures
        self.outputFeatures = outputFeatures
        super.init()
        let w = registerParameter("weight", Tensor.empty([outputFeatures, inputFeatures]))
        Init.kaimingUniform_(w, a: 5.0.squareRoot())
        if bias {
            let bound = 1 / Double(max(inputFeatures, 1)).squareRoot()
            Init.uniform_(registerParameter("bias", Tensor.empty([outputFeatures])), -bound, bound)
        }
    }
    public var weight: Tensor { parameter("weight") }
    public var bias: Tensor? { optionalParameter("bias") }
    /// The weight packed for dynamic INT8 (see `Precision.int8`); used in evaluation mode for inputs that need no gradient.
    public private(set) var int8Weight: QuantizedLinearWeight?
    /// Constants the INT8 copy folds in: it computes (weight W) x + (bias b), so that the model owning the layer can move
    /// a constant of its own into the packed weights (CLIP's QuickGELU); (1, 1) for a plain layer. A layer with other
    /// values must only be called in INT8 by its owner, which then accounts for them.
    public var int8Fold: (weight: Double, bias: Double) = (1, 1)
    /// bfloat16 copies of the weight and bias (see `Precision.bf16`); used where the INT8 copy would be.
    public private(set) var bf16Weight: (weight: Tensor, bias: Tensor?)?
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        if let q = int8Weight, usesInt8(x) { return q(x) }
        if let h = bf16Weight, usesInt8(x) { return linear(x.to(.bfloat16), weight: h.weight, bias: h.bias).to(x.dtype) }
        return linear(x, weight: weight, bias: bias)
    }
    /// Makes (or with `false` drops) the bfloat16 copy of the weight and bias. Recast after changing the weights.
    public func castBF16(_ on: Bool = true) {
        bf16Weight = on ? (weight.detached().to(.bfloat16), bias?.detached().to(.bfloat16)) : nil
    }
    /// Packs (or with `false` drops) the INT8 copy of the weight, with `int8Fold` applied. Repack after changing the weights.
    public func quantizeDynamicInt8(_ on: Bool = true) throws {
        guard on else { int8Weight = nil; return }
        let w = weight.detached(), b = bias?.detached()
        int8Weight = try QuantizedLinearWeight(weight: int8Fold.weight == 1 ? w : w * int8Fold.weight,
                                               bias: int8Fold.bias == 1 ? b : b.map { $0 * int8Fold.bias })
    }
}

extension Module {
    /// The reduced-precision paths (INT8, bf16) serve inference only: not while training, not where a gradient must
    /// reach the input, and on the CPU.
    public func usesInt8(_ x: Tensor) -> Bool { !isTraining && !(isGradEnabled && x.requiresGrad) && x.device == .cpu }
}

/// 2-D convolution over NCHW input (torch.nn.Conv2d).
public final class Conv2d: Module {
    public let stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), groups: Int
    public init(inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true) {
        precondition(inputChannels % groups == 0 && outputChannels % groups == 0,
                     "Conv2d: channels (\(inputChannels) -> \(outputChannels)) must be divisible by groups (\(groups))")
        self.stride = (stride, stride)
        self.padding = (padding, padding)
        self.dilation = (dilation, dilation)
        self.groups = groups
        super.init()
        let w = registerParameter("weight", Tensor.empty([outputChannels, inputChannels / groups, kernelSize, kernelSize]))
        Init.kaimingUniform_(w, a: 5.0.squareRoot())
        if bias {
            let bound = 1 / Double(Init.fans(w.shape).fanIn).squareRoot()
            Init.uniform_(registerParameter("bias", Tensor.empty([outputChannels])), -bound, bound)
        }
    }
    public var weight: Tensor { parameter("weight") }
    public var bias: Tensor? { optionalParameter("bias") }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
}

/// Transposed 2-D convolution (torch.nn.ConvTranspose2d). `weight` is [in, out/groups, k, k].
public final class ConvTranspose2d: Module {
    public let stride: (Int, Int), padding: (Int, Int), outputPadding: (Int, Int), groups: Int
    public init(inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                outputPadding: Int = 0, groups: Int = 1, bias: Bool = true) {
        precondition(inputChannels % groups == 0 && outputChannels % groups == 0, "ConvTranspose2d: channels must be divisible by groups")
        self.stride = (stride, stride)
        self.padding = (padding, padding)
        self.outputPadding = (outputPadding, outputPadding)
        self.groups = groups
        super.init()
        let w = registerParameter("weight", Tensor.empty([inputChannels, outputChannels / groups, kernelSize, kernelSize]))
        Init.kaimingUniform_(w, a: 5.0.squareRoot())
        if bias {
            // PyTorch computes fan_in from weight.size(1) * k * k for transposed convs.
            let bound = 1 / Double(Init.fans(w.shape).fanIn).squareRoot()
            Init.uniform_(registerParameter("bias", Tensor.empty([outputChannels])), -bound, bound)
        }
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        convTranspose2d(x, weight: parameter("weight"), bias: optionalParameter("bias"), stride: stride, padding: padding,
                        outputPadding: outputPadding, groups: groups)
    }
}

/// Batch normalisation over channel dimension 1 (torch.nn.BatchNorm2d / BatchNorm1d).
/// Keys: weight, bias, running_mean, running_var, num_batches_tracked.
public final class BatchNorm: Module {
    public let eps: Double, momentum: Double
    public init(features: Int, eps: Double = 1e-5, momentum: Double = 0.1, affine: Bool = true) {
        self.eps = eps
        self.momentum = momentum
        super.init()
        if affine {
            registerParameter("weight", Tensor.ones([features]))
            registerParameter("bias", Tensor.zeros([features]))
        }
        registerBuffer("running_mean", Tensor.zeros([features]))
        registerBuffer("running_var", Tensor.ones([features]))
        registerBuffer("num_batches_tracked", Tensor.zeros([], dtype: .int64))
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        if isTraining { withNoGrad { buffer("num_batches_tracked").add_(1) } }
        return batchNorm(x, runningMean: buffer("running_mean"), runningVar: buffer("running_var"),
                         weight: optionalParameter("weight"), bias: optionalParameter("bias"),
                         training: isTraining, momentum: momentum, eps: eps)
    }
}
public typealias BatchNorm2d = BatchNorm

/// Layer normalisation over the last dimensions (torch.nn.LayerNorm).
public final class LayerNorm: Module {
    public let shape: [Int], eps: Double
    public init(_ shape: [Int], eps: Double = 1e-5, affine: Bool = true) {
        self.shape = shape
        self.eps = eps
        super.init()
        if affine {
            registerParameter("weight", Tensor.ones(shape))
            registerParameter("bias", Tensor.zeros(shape))
        }
    }
    public convenience init(_ features: Int, eps: Double = 1e-5) { self.init([features], eps: eps) }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        layerNorm(x, normalizedShape: shape, weight: optionalParameter("weight"), bias: optionalParameter("bias"), eps: eps)
    }
}

/// Group normalisation (torch.nn.GroupNorm).
public final class GroupNorm: Module {
    public let groups: Int, eps: Double
    public init(groups: Int, channels: Int, eps: Double = 1e-5) {
        precondition(channels % groups == 0, "GroupNorm: \(channels) channels not divisible by \(groups) groups")
        self.groups = groups
        self.eps = eps
        super.init()
        registerParameter("weight", Tensor.ones([channels]))
        registerParameter("bias", Tensor.zeros([channels]))
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        groupNorm(x, groups: groups, weight: parameter("weight"), bias: parameter("bias"), eps: eps)
    }
}

/// Zeroes elements with probability `p` in training mode, scaling the rest by 1/(1-p).
public final class Dropout: Module {
    public let p: Double
    public init(_ p: Double = 0.5) {
        precondition(p >= 0 && p < 1, "Dropout: p must be in [0, 1), got \(p)")
        self.p = p
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor { p == 0 ? x : dropout(x, p: p, training: isTraining) }
}

public final class MaxPool2d: Module {
    public let kernel: Int, stride: Int, padding: Int, ceilMode: Bool
    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false) {
        kernel = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
        self.ceilMode = ceilMode
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        maxPool2d(x, kernelSize: (kernel, kernel), stride: (stride, stride), padding: (padding, padding), ceilMode: ceilMode)
    }
}

public final class AvgPool2d: Module {
    public let kernel: Int, stride: Int, padding: Int
    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0) {
        kernel = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        avgPool2d(x, kernelSize: (kernel, kernel), stride: (stride, stride), padding: (padding, padding))
    }
}

public final class AdaptiveAvgPool2d: Module {
    public let size: (Int, Int)
    public init(outputSize: Int) { size = (outputSize, outputSize) }
    public override func callAsFunction(_ x: Tensor) -> Tensor { adaptiveAvgPool2d(x, outputSize: size) }
}

public final class AdaptiveMaxPool2d: Module {
    public let size: (Int, Int)
    public init(outputSize: Int) { size = (outputSize, outputSize) }
    public override func callAsFunction(_ x: Tensor) -> Tensor { adaptiveMaxPool2d(x, outputSize: size) }
}

/// A lookup table of `count` vectors (torch.nn.Embedding); input: int64 indices.
public final class Embedding: Module {
    public init(count: Int, dimensions: Int) {
        super.init()
        Init.normal_(registerParameter("weight", Tensor.empty([count, dimensions])))
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor { embedding(x, weight: parameter("weight")) }
}

/// Flattens dimensions start...end (default: all but the batch).
public final class Flatten: Module {
    public let start: Int, end: Int
    public init(start: Int = 1, end: Int = -1) {
        self.start = start
        self.end = end
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor { x.flattened(start: start, end: end) }
}

public final class Identity: Module {
    public override init() {}
    public override func callAsFunction(_ x: Tensor) -> Tensor { x }
}

/// Elementwise activations as modules (no parameters).
public final class Activation: Module {
    public enum Kind: Sendable { case relu, relu6, gelu, geluTanh, quickGelu, silu, sigmoid, tanh, hardswish, leakyRelu(Double) }
    public let kind: Kind
    public init(_ kind: Kind) { self.kind = kind }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        switch kind {
        case .relu: return x.relu()
        case .relu6: return x.relu6()
        case .gelu: return x.gelu()
        case .geluTanh: return x.gelu(approximateTanh: true)
        case .quickGelu: return x.quickGelu()
        case .silu: return x.silu()
        case .sigmoid: return x.sigmoid()
        case .tanh: return x.tanh()
        case .hardswish: return x.hardswish()
        case .leakyRelu(let s): return x.leakyRelu(s)
        }
    }
}
public func ReLU() -> Activation { Activation(.relu) }
public func GELU() -> Activation { Activation(.gelu) }
public func SiLU() -> Activation { Activation(.silu) }

/// Applies children in order; keys are "0", "1", ... as in torch.nn.Sequential.
public final class Sequential: Module {
    public private(set) var layers: [Module] = []
    public init(_ layers: [Module]) {
        super.init()
        for l in layers { append(l) }
    }
    public convenience init(_ layers: Module...) { self.init(layers) }
    public func append(_ m: Module) {
        register(String(layers.count), m)
        layers.append(m)
    }
    public var count: Int { layers.count }
    public subscript(i: Int) -> Module { layers[i] }
    public override func callAsFunction(_ x: Tensor) -> Tensor { layers.reduce(x) { $1($0) } }
}

/// Multi-head scaled dot-product attention (torch.nn.MultiheadAttention, batch_first).
/// Keys: in_proj_weight [3E, E], in_proj_bias [3E], out_proj.weight, out_proj.bias.
public final class MultiheadAttention: Module {
    public let dimensions: Int, heads: Int
    public let outProjection: Linear
    /// The attention weights of the last call ([N, heads, L, S]) when `keepAttention` is set (for rollout).
    public var keepAttention = false
    public private(set) var lastAttention: Tensor?
    /// Applied to the inputs of the input and output projections (quantisation emulation); nil = identity.
    public var projectionInputTransform: ((Tensor) -> Tensor)?

    public init(dimensions: Int, heads: Int, bias: Bool = true) {
        precondition(dimensions % heads == 0, "MultiheadAttention: \(dimensions) not divisible by \(heads) heads")
        self.dimensions = dimensions
        self.heads = heads
        outProjection = Linear(inputFeatures: dimensions, outputFeatures: dimensions, bias: bias)
        super.init()
        Init.xavierUniform_(registerParameter("in_proj_weight", Tensor.empty([3 * dimensions, dimensions])))
        if bias {
            registerParameter("in_proj_bias", Tensor.zeros([3 * dimensions]))
            withNoGrad { outProjection.bias?.zero_() }
        }
        register("out_proj", outProjection)
    }

    /// Self-attention over x [N, L, E].
    public override func callAsFunction(_ x: Tensor) -> Tensor { attend(query: x, key: x, value: x, mask: nil) }

    /// Attention with an optional additive mask broadcastable to [N, heads, L, S].
    public func attend(query: Tensor, key: Tensor, value: Tensor, mask: Tensor?) -> Tensor {
        let n = query.size(0), l = query.size(1), s = key.size(1), hd = dimensions / heads
        var query = query, key = key, value = value
        if let f = projectionInputTransform {
            let same = query === key && key === value
            query = f(query)
            key = same ? query : f(key)
            value = same ? query : f(value)
        }
        let w = parameter("in_proj_weight"), b = optionalParameter("in_proj_bias")
        let projected: [Tensor]
        var reduced = false
        if query === key && key === value {
            // Self-attention: one [3E, E] projection, split after.
            if let q8 = int8InProjection, usesInt8(query) {
                projected = q8(query).chunked(3, axis: -1)
            } else if let h = bf16InProjection, usesInt8(query), mask == nil, projectionInputTransform == nil, outProjection.bf16Weight != nil {
                // bf16 from here to the output projection (attention's own kernel accumulates in fp32).
                reduced = true
                projected = linear(query.to(.bfloat16), weight: h.weight, bias: h.bias).chunked(3, axis: -1)
            } else {
                projected = linear(query, weight: w, bias: b).chunked(3, axis: -1)
            }
        } else {
            let ws = w.chunked(3, axis: 0)
            let bs = b?.chunked(3, axis: 0)
            projected = [linear(query, weight: ws[0], bias: bs?[0]), linear(key, weight: ws[1], bias: bs?[1]),
                         linear(value, weight: ws[2], bias: bs?[2])]
        }
        // [N, L, E] -> [N, L, H, hd] -> [N, H, L, hd]
        var q = projected[0].reshaped([n, l, heads, hd]).transposed(1, 2)
        var k = projected[1].reshaped([n, s, heads, hd]).transposed(1, 2)
        var v = projected[2].reshaped([n, s, heads, hd]).transposed(1, 2)
        let attended: Tensor
        if keepAttention && reduced {
            // The kept attention weights (rollout) are read as float32.
            (q, k, v) = (q.to(.float32), k.to(.float32), v.to(.float32))
            reduced = false
        }
        if keepAttention {
            var scores = q.matmul(k.transposed(-2, -1)) * (1 / Double(hd).squareRoot())  // [N, H, L, S]
            if let mask { scores = scores + mask }
            let attn = scores.softmax(axis: -1)
            lastAttention = attn.detached()
            attended = attn.matmul(v)
        } else {
            // LibTorch's fused attention: the [L, S] weights are never materialised per head.
            lastAttention = nil
            attended = scaledDotProductAttention(query: q, key: k, value: v, mask: mask)
        }
        // [N, H, L, hd] -> [N, L, H, hd] -> [N, L, E]
        let o = attended.transposed(1, 2).reshaped([n, l, dimensions])
        let out = outProjection(projectionInputTransform?(o) ?? o)
        return reduced ? out.to(query.dtype) : out
    }

    /// The input projection packed for dynamic INT8 (self-attention only; see `Precision.int8`).
    public private(set) var int8InProjection: QuantizedLinearWeight?
    /// Packs (or drops) the INT8 copies of the input and output projections.
    public func quantizeDynamicInt8(_ on: Bool = true) throws {
        int8InProjection = on
            ? try QuantizedLinearWeight(weight: parameter("in_proj_weight").detached(), bias: optionalParameter("in_proj_bias")?.detached())
            : nil
        try outProjection.quantizeDynamicInt8(on)
    }

    /// The input projection in bfloat16 (self-attention only; see `Precision.bf16`).
    public private(set) var bf16InProjection: (weight: Tensor, bias: Tensor?)?
    /// Makes (or drops) the bfloat16 copies of the input and output projections.
    public func castBF16(_ on: Bool = true) {
        bf16InProjection = on
            ? (parameter("in_proj_weight").detached().to(.bfloat16), optionalParameter("in_proj_bias")?.detached().to(.bfloat16))
            : nil
        outProjection.castBF16(on)
    }
}

/// The numeric precision a model runs inference in. `fp32` everywhere; `bf16`: every Linear layer and attention
/// projection (a probe's head too) multiplies in bfloat16 (weights cast once, activations cast per call, results back
/// in float32: oneDNN's AVX-512 BF16 / AMX kernels where the CPU has them, `Runtime.cpuHasNativeBF16`); self-attention
/// stays bf16 from its input projection through the attention kernel (fp32 accumulation) to its output projection, and
/// CLIP's MLP hidden layer (QuickGELU) stays bf16 between its two products; `int8`: every Linear layer and attention
/// projection with int8 weights per output channel and activations quantised per call (FBGEMM), attention itself fp32.
/// In both, convolutions, norms and the residual stream stay fp32, and training and gradients take the fp32 weights.
/// Model files name theirs in `aidetect.precision`; `--precision` overrides.
public enum Precision: String, CaseIterable, Sendable, Codable {
    case fp32, bf16, int8

    /// Puts every Linear and MultiheadAttention of `module` in this precision (packing INT8 or casting bf16 weights
    /// once; the fp32 weights stay, so going back to fp32 is exact).
    public func apply(to module: Module) throws {
        for (_, m) in module.namedModules() {
            if let attention = m as? MultiheadAttention {
                try attention.quantizeDynamicInt8(self == .int8)
                attention.castBF16(self == .bf16)
            } else if let layer = m as? Linear {
                try layer.quantizeDynamicInt8(self == .int8)
                layer.castBF16(self == .bf16)
            }
        }
    }
}
