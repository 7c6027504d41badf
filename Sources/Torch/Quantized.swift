import CTorch

/// A Linear layer's weight packed for dynamic INT8 inference (LibTorch's `quantized::linear_prepack` on FBGEMM):
/// symmetric int8 per output channel; the input is quantised to uint8 per call (7-bit range, PyTorch's x86
/// default), multiplied in integers and rescaled to float32. Inference only: no gradient flows through it.
public final class QuantizedLinearWeight: @unchecked Sendable {
    let handle: ctorch_qlinear_weight
    public let outputFeatures: Int, inputFeatures: Int

    /// Packs `weight` [out, in] and `bias` [out].
    public init(weight: Tensor, bias: Tensor?) throws {
        outputFeatures = weight.size(0)
        inputFeatures = weight.size(1)
        var q: ctorch_qlinear_weight?
        try withTorchErrors {
            check(withExtendedLifetime((weight, bias)) { ctorch_qlinear_pack(&q, weight.handle, bias?.handle) })
        }
        guard let q else { throw TorchError("qlinear_pack returned no handle") }
        handle = q
    }
    deinit { ctorch_qlinear_free(handle) }

    /// x [..., in] -> [..., out] in float32.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        withExtendedLifetime((self, x)) { Tensor.make { ctorch_qlinear($0, handle, x.handle) } }
    }
}

/// softmax(q kᵀ / √d + mask) v over the last two axes, through LibTorch's fused attention kernels
/// (`scaled_dot_product_attention`); q [..., L, d], k and v [..., S, d], mask additive and broadcastable to [..., L, S].
public func scaledDotProductAttention(query: Tensor, key: Tensor, value: Tensor, mask: Tensor? = nil) -> Tensor {
    withExtendedLifetime((query, key, value, mask)) {
        Tensor.make { ctorch_sdpa($0, query.handle, key.handle, value.handle, mask?.handle) }
    }
}
