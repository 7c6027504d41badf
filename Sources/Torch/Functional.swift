import CTorch

// Functional neural-network ops (torch.nn.functional). Inputs are NCHW where spatial.

@inline(__always)
private func pair(_ p: (Int, Int)) -> [Int64] { [Int64(p.0), Int64(p.1)] }

/// y = x W^T + b. `weight` is [out, in].
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
    withExtendedLifetime((x, weight, bias)) { Tensor.make { ctorch_linear($0, x.handle, weight.handle, bias?.handle) } }
}

/// 2-D convolution. `weight` is [out, in/groups, kh, kw].
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
                   padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1) -> Tensor {
    let s = pair(stride), p = pair(padding), d = pair(dilation)
    return withExtendedLifetime((x, weight, bias)) {
        Tensor.make { ctorch_conv2d($0, x.handle, weight.handle, bias?.handle, s, p, d, Int64(groups)) }
    }
}

/// Transposed 2-D convolution. `weight` is [in, out/groups, kh, kw].
public func convTranspose2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
                            padding: (Int, Int) = (0, 0), outputPadding: (Int, Int) = (0, 0), groups: Int = 1,
                            dilation: (Int, Int) = (1, 1)) -> Tensor {
    let s = pair(stride), p = pair(padding), op = pair(outputPadding), d = pair(dilation)
    return withExtendedLifetime((x, weight, bias)) {
        Tensor.make { ctorch_conv_transpose2d($0, x.handle, weight.handle, bias?.handle, s, p, op, Int64(groups), d) }
    }
}

public func maxPool2d(_ x: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
                      dilation: (Int, Int) = (1, 1), ceilMode: Bool = false) -> Tensor {
    let k = pair(kernelSize), s = pair(stride ?? kernelSize), p = pair(padding), d = pair(dilation)
    return withExtendedLifetime(x) { Tensor.make { ctorch_max_pool2d($0, x.handle, k, s, p, d, ceilMode ? 1 : 0) } }
}

public func avgPool2d(_ x: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
                      ceilMode: Bool = false, countIncludePad: Bool = true) -> Tensor {
    let k = pair(kernelSize), s = pair(stride ?? kernelSize), p = pair(padding)
    return withExtendedLifetime(x) {
        Tensor.make { ctorch_avg_pool2d($0, x.handle, k, s, p, ceilMode ? 1 : 0, countIncludePad ? 1 : 0) }
    }
}

public func adaptiveAvgPool2d(_ x: Tensor, outputSize: (Int, Int)) -> Tensor {
    let o = pair(outputSize)
    return withExtendedLifetime(x) { Tensor.make { ctorch_adaptive_pool2d($0, x.handle, o, 0) } }
}
public func adaptiveMaxPool2d(_ x: Tensor, outputSize: (Int, Int)) -> Tensor {
    let o = pair(outputSize)
    return withExtendedLifetime(x) { Tensor.make { ctorch_adaptive_pool2d($0, x.handle, o, 1) } }
}

/// Batch normalisation; in training mode updates `runningMean`/`runningVar` in place.
public func batchNorm(_ x: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?, bias: Tensor?,
                      training: Bool, momentum: Double = 0.1, eps: Double = 1e-5) -> Tensor {
    withExtendedLifetime((x, runningMean, runningVar, weight, bias)) {
        Tensor.make {
            ctorch_batch_norm($0, x.handle, weight?.handle, bias?.handle, runningMean?.handle, runningVar?.handle,
                              training ? 1 : 0, momentum, eps)
        }
    }
}

public func layerNorm(_ x: Tensor, normalizedShape: [Int], weight: Tensor?, bias: Tensor?, eps: Double = 1e-5) -> Tensor {
    let s = normalizedShape.map { Int64($0) }
    return withExtendedLifetime((x, weight, bias)) {
        Tensor.make { ctorch_layer_norm($0, x.handle, s, Int64(s.count), weight?.handle, bias?.handle, eps) }
    }
}

public func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Double = 1e-5) -> Tensor {
    withExtendedLifetime((x, weight, bias)) { Tensor.make { ctorch_group_norm($0, x.handle, Int64(groups), weight?.handle, bias?.handle, eps) } }
}

public func dropout(_ x: Tensor, p: Double, training: Bool) -> Tensor {
    withExtendedLifetime(x) { Tensor.make { ctorch_dropout($0, x.handle, p, training ? 1 : 0) } }
}

public func embedding(_ indices: Tensor, weight: Tensor) -> Tensor {
    withExtendedLifetime((indices, weight)) { Tensor.make { ctorch_embedding($0, weight.handle, indices.handle) } }
}

public enum InterpolationMode: Int32, Sendable { case nearest = 0, bilinear = 1, bicubic = 2 }

/// Resizes NCHW `x` to `size` (height, width) with LibTorch's kernels.
public func interpolate(_ x: Tensor, size: (Int, Int), mode: InterpolationMode = .bilinear,
                        alignCorners: Bool = false, antialias: Bool = false) -> Tensor {
    let s = pair(size)
    return withExtendedLifetime(x) {
        Tensor.make { ctorch_interpolate($0, x.handle, s, 0, 0, mode.rawValue, alignCorners ? 1 : 0, antialias ? 1 : 0) }
    }
}
/// Resizes NCHW `x` by a scale factor.
public func interpolate(_ x: Tensor, scale: Double, mode: InterpolationMode = .nearest, alignCorners: Bool = false) -> Tensor {
    withExtendedLifetime(x) { Tensor.make { ctorch_interpolate($0, x.handle, nil, scale, scale, mode.rawValue, alignCorners ? 1 : 0, 0) } }
}

public func pixelShuffle(_ x: Tensor, factor: Int) -> Tensor {
    withExtendedLifetime(x) { Tensor.make { ctorch_pixel_shuffle($0, x.handle, Int64(factor)) } }
}

// MARK: Losses

public enum Reduction: Int32, Sendable { case none = 0, mean = 1, sum = 2 }

/// Cross-entropy of `logits` [N, C] against int64 class `targets` [N].
public func crossEntropy(_ logits: Tensor, targets: Tensor, weight: Tensor? = nil, reduction: Reduction = .mean,
                         labelSmoothing: Double = 0) -> Tensor {
    withExtendedLifetime((logits, targets, weight)) {
        Tensor.make { ctorch_cross_entropy($0, logits.handle, targets.handle, weight?.handle, reduction.rawValue, labelSmoothing) }
    }
}
public func nllLoss(_ logProbs: Tensor, targets: Tensor, reduction: Reduction = .mean) -> Tensor {
    withExtendedLifetime((logProbs, targets)) { Tensor.make { ctorch_nll_loss($0, logProbs.handle, targets.handle, reduction.rawValue) } }
}
/// Binary cross-entropy on logits (numerically stable), float targets in [0, 1].
public func binaryCrossEntropyWithLogits(_ logits: Tensor, targets: Tensor, posWeight: Tensor? = nil,
                                         reduction: Reduction = .mean) -> Tensor {
    withExtendedLifetime((logits, targets, posWeight)) {
        Tensor.make { ctorch_bce_with_logits($0, logits.handle, targets.handle, posWeight?.handle, reduction.rawValue) }
    }
}
public func binaryCrossEntropy(_ probs: Tensor, targets: Tensor, reduction: Reduction = .mean) -> Tensor {
    withExtendedLifetime((probs, targets)) { Tensor.make { ctorch_bce($0, probs.handle, targets.handle, reduction.rawValue) } }
}
public func mseLoss(_ a: Tensor, _ b: Tensor, reduction: Reduction = .mean) -> Tensor {
    withExtendedLifetime((a, b)) { Tensor.make { ctorch_mse($0, a.handle, b.handle, reduction.rawValue) } }
}
public func smoothL1Loss(_ a: Tensor, _ b: Tensor, reduction: Reduction = .mean, beta: Double = 1) -> Tensor {
    withExtendedLifetime((a, b)) { Tensor.make { ctorch_smooth_l1($0, a.handle, b.handle, reduction.rawValue, beta) } }
}
/// Soft Dice loss, 1 - (2 sum(p t) + eps) / (sum p + sum t + eps), averaged over the batch.
/// `probs` and `targets` are [N, ...] in [0, 1].
public func diceLoss(_ probs: Tensor, targets: Tensor, eps: Double = 1) -> Tensor {
    let n = probs.size(0)
    let p = probs.reshaped([n, -1]), t = targets.reshaped([n, -1])
    let inter = (p * t).sum(axis: 1)
    let denom = p.sum(axis: 1) + t.sum(axis: 1)
    return (1.0 - (inter * 2 + eps) / (denom + eps)).mean()
}

/// ONNX DynamicQuantizeLinear followed by dequantisation, in float: per-tensor asymmetric uint8 with the
/// range widened to include 0, scale = (max - min) / 255, zero point and values rounded half to even.
/// Used to reproduce onnxruntime's dynamically quantised INT8 models exactly.
public func fakeQuantizeDynamicUInt8(_ x: Tensor) -> Tensor {
    let lo = Swift.min(0, x.min().item()), hi = Swift.max(0, x.max().item())
    let scale = (hi - lo) / 255
    guard scale > 0 else { return x }
    let zero = Swift.max(0, Swift.min(255, (-lo / scale).rounded(.toNearestOrEven)))
    return (((x / scale).rounded() + zero).clamped(min: 0, max: 255) - zero) * scale
}
