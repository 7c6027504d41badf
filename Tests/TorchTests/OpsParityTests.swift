import Foundation
import Testing
import TestSupport
@testable import Torch

/// Every op against PyTorch's output for the same inputs (fixtures by scripts/make_fixtures.py).
struct OpsParityTests {
    static let fx = TestSupport.loadFixture("TorchTests", "ops.safetensors")
    static func input(_ c: String, _ i: Int) -> Tensor { fx["\(c)/in\(i)"]! }

    typealias Op = @Sendable ([Tensor]) -> [Tensor]
    static let ops: [String: Op] = {
        var o: [String: Op] = [:]
        func one(_ name: String, _ f: @escaping @Sendable ([Tensor]) -> Tensor) { o[name] = { [f($0)] } }
        one("neg") { $0[0].neg() }
        one("abs") { $0[0].abs() }
        one("exp") { $0[0].exp() }
        one("tanh") { $0[0].tanh() }
        one("sigmoid") { $0[0].sigmoid() }
        one("relu") { $0[0].relu() }
        one("gelu") { $0[0].gelu() }
        one("gelu_tanh") { $0[0].gelu(approximateTanh: true) }
        one("silu") { $0[0].silu() }
        one("hardswish") { $0[0].hardswish() }
        one("softplus") { $0[0].softplus() }
        one("erf") { $0[0].erf() }
        one("leaky_relu") { $0[0].leakyRelu(0.1) }
        one("elu") { $0[0].elu() }
        one("relu6") { $0[0].relu6() }
        one("square") { $0[0].square() }
        one("sign") { $0[0].sign() }
        one("floor") { $0[0].floor() }
        one("log_sigmoid") { $0[0].logSigmoid() }
        one("log") { $0[0].log() }
        one("sqrt") { $0[0].sqrt() }
        one("rsqrt") { $0[0].rsqrt() }
        one("reciprocal") { $0[0].reciprocal() }
        one("log1p") { $0[0].log1p() }
        one("add") { $0[0] + $0[1] }
        one("sub") { $0[0] - $0[1] }
        one("mul") { $0[0] * $0[1] }
        one("div") { $0[0] / $0[1] }
        one("pow") { $0[0].pow($0[1]) }
        one("maximum") { $0[0].maximum($0[1]) }
        one("minimum") { $0[0].minimum($0[1]) }
        one("scalar_affine") { ($0[0] * 2.5 + 1.0) / 4.0 - 0.5 }
        one("rsub_scalar") { 3.0 - $0[0] }
        one("matmul") { $0[0].matmul($0[1]) }
        one("bmm") { $0[0].matmul($0[1]) }
        one("sum_all") { $0[0].sum() }
        one("sum_dim") { $0[0].sum(axis: 1) }
        one("mean_keep") { $0[0].mean(axes: [0, 2], keepDims: true) }
        one("amax") { $0[0].max(axis: 2) }
        one("amin") { $0[0].min(axis: 0) }
        one("argmax") { $0[0].argmax(axis: 2) }
        one("std") { $0[0].std(axes: [1]) }
        one("var") { $0[0].variance(axes: [2]) }
        one("logsumexp") { $0[0].logsumexp(axes: [2]) }
        one("norm") { $0[0].norm() }
        one("softmax") { $0[0].softmax(axis: -1) }
        one("log_softmax") { $0[0].logSoftmax(axis: 1) }
        one("cumsum") { $0[0].cumsum(axis: 2) }
        one("permute") { $0[0].permuted(2, 0, 1) }
        one("transpose") { $0[0].transposed(0, 2) }
        one("reshape") { $0[0].reshaped(4, 6) }
        one("cat") { concatenated([$0[0], $0[1]], axis: 1) }
        one("stack") { stacked([$0[0], $0[1]], axis: 3) }
        one("slice_step") { $0[0].slice(axis: 1, start: 1).slice(axis: 2, step: 2) }
        one("flip") { $0[0].flipped([1, 2]) }
        one("roll") { $0[0].rolled(shifts: [1, -1], axes: [1, 2]) }
        one("pad_reflect") { $0[0].padded([1, 2, 2, 1], mode: .reflect) }
        one("pad_replicate") { $0[0].padded([2, 0, 1, 1], mode: .replicate) }
        one("pad_constant") { $0[0].padded([1, 1, 0, 2], value: 0.5) }
        one("tril") { $0[0].tril(-1) }
        one("triu") { $0[0].triu(1) }
        one("index_select") { $0[0].indexSelect(axis: 0, $0[1]) }
        one("gather") { $0[0].gather(axis: 1, $0[1]) }
        one("where") { Tensor.where($0[0].gt(0), $0[0], $0[1]) }
        one("masked_fill") { $0[0].maskedFill($0[0].lt(0), -7) }
        one("clamp") { $0[0].clamped(min: -0.5, max: 0.7) }
        one("conv2d") { conv2d($0[0], weight: $0[1], bias: $0[2], stride: (2, 2), padding: (1, 1), groups: 2) }
        one("conv2d_dilated") { conv2d($0[0], weight: $0[1], padding: (2, 2), dilation: (2, 2)) }
        one("conv_transpose2d") {
            convTranspose2d($0[0], weight: $0[1], bias: $0[2], stride: (2, 2), padding: (1, 1), outputPadding: (1, 1))
        }
        one("max_pool2d") { maxPool2d($0[0], kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), ceilMode: true) }
        one("avg_pool2d") { avgPool2d($0[0], kernelSize: (2, 2)) }
        one("adaptive_avg_pool2d") { adaptiveAvgPool2d($0[0], outputSize: (3, 5)) }
        one("adaptive_max_pool2d") { adaptiveMaxPool2d($0[0], outputSize: (2, 2)) }
        o["batch_norm_train"] = { t in
            let rm = t[1].cloned(), rv = t[2].cloned()
            let y = batchNorm(t[0], runningMean: rm, runningVar: rv, weight: t[3], bias: t[4], training: true)
            return [y, rm, rv]
        }
        one("batch_norm_eval") { batchNorm($0[0], runningMean: $0[1], runningVar: $0[2], weight: $0[3], bias: $0[4], training: false) }
        one("layer_norm") { layerNorm($0[0], normalizedShape: [8], weight: $0[1], bias: $0[2]) }
        one("group_norm") { groupNorm($0[0], groups: 2, weight: $0[1], bias: $0[2]) }
        one("interp_bilinear") { interpolate($0[0], size: (13, 5)) }
        one("interp_bilinear_ac") { interpolate($0[0], size: (4, 11), alignCorners: true) }
        one("interp_bicubic") { interpolate($0[0], size: (12, 12), mode: .bicubic) }
        one("interp_nearest") { interpolate($0[0], size: (18, 16), mode: .nearest) }
        one("interp_bilinear_aa") { interpolate($0[0], size: (4, 3), antialias: true) }
        one("pixel_shuffle") { pixelShuffle($0[0], factor: 2) }
        one("embedding") { embedding($0[1], weight: $0[0]) }
        one("linear") { linear($0[0], weight: $0[1], bias: $0[2]) }
        one("cross_entropy") { crossEntropy($0[0], targets: $0[1]) }
        one("cross_entropy_ls") { crossEntropy($0[0], targets: $0[1], labelSmoothing: 0.1) }
        one("nll") { nllLoss($0[0], targets: $0[1]) }
        one("bce_logits") { binaryCrossEntropyWithLogits($0[0], targets: $0[1]) }
        one("bce_logits_pw") { binaryCrossEntropyWithLogits($0[0], targets: $0[1], posWeight: $0[2]) }
        one("bce") { binaryCrossEntropy($0[0], targets: $0[1]) }
        one("mse") { mseLoss($0[0], $0[1]) }
        one("mse_sum") { mseLoss($0[0], $0[1], reduction: .sum) }
        one("smooth_l1") { smoothL1Loss($0[0], $0[1], beta: 0.5) }
        o["grad_tanh_matmul"] = { t in
            let x = t[0].cloned().detached().requiringGrad(), w = t[1].cloned().detached().requiringGrad()
            ((x.matmul(w)).tanh() * t[2]).sum().backward()
            return [x.grad!, w.grad!]
        }
        o["grad_conv_pool"] = { t in
            let x = t[0].cloned().detached().requiringGrad(), w = t[1].cloned().detached().requiringGrad()
            maxPool2d(conv2d(x, weight: w, padding: (1, 1)).relu(), kernelSize: (2, 2)).pow(2).mean().backward()
            return [x.grad!, w.grad!]
        }
        return o
    }()

    static var caseNames: [String] {
        Set(fx.keys.map { String($0.split(separator: "/")[0]) }).sorted()
    }

    @Test("every fixture case has a Swift implementation")
    func coverage() {
        let missing = Self.caseNames.filter { Self.ops[$0] == nil }
        #expect(missing.isEmpty, "no Swift op for fixture cases \(missing)")
        #expect(Self.caseNames.count >= 90)
    }

    @Test("matches PyTorch", arguments: OpsParityTests.caseNames)
    func parity(_ name: String) throws {
        let op = try #require(Self.ops[name])
        var inputs: [Tensor] = []
        while let t = Self.fx["\(name)/in\(inputs.count)"] { inputs.append(t) }
        let results = op(inputs)
        let expected: [Tensor] = Self.fx["\(name)/out"].map { [$0] } ?? (0..<results.count).map { Self.fx["\(name)/out\($0)"]! }
        #expect(results.count == expected.count)
        for (r, e) in zip(results, expected) {
            #expect(r.dtype == e.dtype, "\(name): dtype \(r.dtype) vs \(e.dtype)")
            let c = TestSupport.allClose(r, e, rtol: 1e-4, atol: 1e-5)
            #expect(c.ok, "\(name): \(c.message)")
        }
    }
}
