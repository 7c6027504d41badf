// CIFAR-10 ResNets (He et al. 2016, section 4.2: 6n+2 layers, 16/32/64 filters, option-A identity
// shortcuts padded with zero channels), in the layout of akamaster/pytorch_resnet_cifar10 so its
// checkpoints (../shared/data/weights) load one-to-one (keys conv1, bn1, layer1.0.conv1, ..., linear).
import NN
import Torch

final class CIFARBlock: Module {
    let conv1: Conv2d, bn1: BatchNorm, conv2: Conv2d, bn2: BatchNorm
    let padChannels: Int?
    init(inplanes: Int, planes: Int, stride: Int) {
        conv1 = Conv2d(inputChannels: inplanes, outputChannels: planes, kernelSize: 3, stride: stride, padding: 1, bias: false)
        bn1 = BatchNorm(features: planes)
        conv2 = Conv2d(inputChannels: planes, outputChannels: planes, kernelSize: 3, padding: 1, bias: false)
        bn2 = BatchNorm(features: planes)
        padChannels = (stride != 1 || inplanes != planes) ? planes / 4 : nil
        super.init()
        register("conv1", conv1); register("bn1", bn1); register("conv2", conv2); register("bn2", bn2)
    }
    override func callAsFunction(_ x: Tensor) -> Tensor {
        let out = bn2(conv2(bn1(conv1(x)).relu()))
        var shortcut = x
        if let p = padChannels {
            // Option A: x[:, :, ::2, ::2] with p zero channels on each side.
            shortcut = x.slice(axis: 2, step: 2).slice(axis: 3, step: 2).padded([0, 0, 0, 0, p, p])
        }
        return (out + shortcut).relu()
    }
}

/// ResNet-(6n+2) for 32 px CIFAR images. Feature hooks: "layer1"..."layer3" (layer3 is the last conv stage).
public final class CIFARResNet: Module {
    public let depth: Int
    let stages: [Sequential]
    public init(depth: Int, classes: Int = 10) {
        precondition((depth - 2) % 6 == 0, "CIFARResNet: depth must be 6n+2, got \(depth)")
        self.depth = depth
        let n = (depth - 2) / 6
        var inplanes = 16
        var built: [Sequential] = []
        for (i, planes) in [16, 32, 64].enumerated() {
            var blocks: [Module] = []
            for b in 0..<n {
                blocks.append(CIFARBlock(inplanes: inplanes, planes: planes, stride: (b == 0 && i > 0) ? 2 : 1))
                inplanes = planes
            }
            built.append(Sequential(blocks))
        }
        stages = built
        super.init()
        register("conv1", Conv2d(inputChannels: 3, outputChannels: 16, kernelSize: 3, padding: 1, bias: false))
        register("bn1", BatchNorm(features: 16))
        for (i, s) in stages.enumerated() { register("layer\(i + 1)", s) }
        register("linear", Linear(inputFeatures: 64, outputFeatures: classes))
        for (_, m) in namedModules() {
            if let c = m as? Conv2d { Init.kaimingNormal_(c.weight) }
            if let l = m as? Linear { Init.kaimingNormal_(l.weight) }
        }
    }
    public override var featureNames: [String] { ["layer1", "layer2", "layer3"] }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        var h = module(at: "bn1")!(module(at: "conv1")!(x)).relu()
        for (i, s) in stages.enumerated() { h = hooked("layer\(i + 1)", s(h)) }
        h = adaptiveAvgPool2d(h, outputSize: (1, 1)).flattened(start: 1)
        return module(at: "linear")!(h)
    }
}

/// akamaster's normalisation (ImageNet mean/std) at 32 px.
let cifarResNetPreprocessing = Preprocessing(inputSize: 32, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225],
                                             policy: .resize, interpolation: "area", cropFraction: 1)

let cifarResNetEntries: [ModelEntry] = [20, 32, 44, 56].map { depth in
    ModelEntry(name: "resnet\(depth)", summary: "CIFAR ResNet-\(depth) (akamaster layout)", reference: "He et al. 2016 (4.2)",
               defaultClasses: 10, preprocessing: cifarResNetPreprocessing, dense: false) {
        CIFARResNet(depth: depth, classes: $0.classes ?? 10)
    }
}
