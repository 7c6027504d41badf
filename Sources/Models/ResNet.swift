// ResNet and ResNeXt as in torchvision (He et al. 2016, "Deep Residual Learning for Image Recognition";
// Xie et al. 2017, "Aggregated Residual Transformations for Deep Neural Networks"). Parameter keys match
// torchvision's state_dict (conv1, bn1, layer1.0.conv1, layer1.0.downsample.0, fc, ...).
import NN
import Torch

final class BasicBlock: Module {
    static let expansion = 1
    let conv1: Conv2d, bn1: BatchNorm, conv2: Conv2d, bn2: BatchNorm
    let downsample: Sequential?
    init(inplanes: Int, planes: Int, stride: Int, downsample: Sequential?, dilation: Int) {
        conv1 = Conv2d(inputChannels: inplanes, outputChannels: planes, kernelSize: 3, stride: stride, padding: dilation,
                       dilation: dilation, bias: false)
        bn1 = BatchNorm(features: planes)
        conv2 = Conv2d(inputChannels: planes, outputChannels: planes, kernelSize: 3, padding: dilation, dilation: dilation, bias: false)
        bn2 = BatchNorm(features: planes)
        self.downsample = downsample
        super.init()
        register("conv1", conv1); register("bn1", bn1); register("conv2", conv2); register("bn2", bn2)
        if let downsample { register("downsample", downsample) }
    }
    override func callAsFunction(_ x: Tensor) -> Tensor {
        // In-place ReLU and residual add, as torchvision does.
        let out = bn2(conv2(bn1(conv1(x)).relu_()))
        return out.addInPlace(downsample?(x) ?? x).relu_()
    }
}

final class Bottleneck: Module {
    static let expansion = 4
    let conv1: Conv2d, bn1: BatchNorm, conv2: Conv2d, bn2: BatchNorm, conv3: Conv2d, bn3: BatchNorm
    let downsample: Sequential?
    init(inplanes: Int, planes: Int, stride: Int, downsample: Sequential?, groups: Int, baseWidth: Int, dilation: Int) {
        let width = planes * baseWidth / 64 * groups
        conv1 = Conv2d(inputChannels: inplanes, outputChannels: width, kernelSize: 1, bias: false)
        bn1 = BatchNorm(features: width)
        conv2 = Conv2d(inputChannels: width, outputChannels: width, kernelSize: 3, stride: stride, padding: dilation,
                       dilation: dilation, groups: groups, bias: false)
        bn2 = BatchNorm(features: width)
        conv3 = Conv2d(inputChannels: width, outputChannels: planes * 4, kernelSize: 1, bias: false)
        bn3 = BatchNorm(features: planes * 4)
        self.downsample = downsample
        super.init()
        register("conv1", conv1); register("bn1", bn1); register("conv2", conv2); register("bn2", bn2)
        register("conv3", conv3); register("bn3", bn3)
        if let downsample { register("downsample", downsample) }
    }
    override func callAsFunction(_ x: Tensor) -> Tensor {
        var out = bn1(conv1(x)).relu_()
        out = bn2(conv2(out)).relu_()
        out = bn3(conv3(out))
        return out.addInPlace(downsample?(x) ?? x).relu_()
    }
}

/// torchvision's ResNet. Feature hooks: "layer1" ... "layer4" (layer4 is the last conv stage).
public final class ResNet: Module {
    public enum Block: Sendable { case basic, bottleneck }
    public let block: Block
    public private(set) var layers: [Sequential]
    public let fc: Linear?
    /// Channels out of layer4 (512 basic, 2048 bottleneck).
    public let featureChannels: Int
    private var inplanes = 64, dilation = 1
    private let groups: Int, baseWidth: Int

    /// - Parameters:
    ///   - replaceStrideWithDilation: for layer2...layer4, dilate instead of striding (FCN/DeepLab backbones).
    ///   - includeHead: false drops avgpool and fc (a feature extractor).
    public init(block: Block, counts: [Int], classes: Int = 1000, groups: Int = 1, widthPerGroup: Int = 64,
                replaceStrideWithDilation: [Bool] = [false, false, false], includeHead: Bool = true) {
        self.block = block
        self.groups = groups
        baseWidth = widthPerGroup
        let expansion = block == .basic ? BasicBlock.expansion : Bottleneck.expansion
        featureChannels = 512 * expansion
        fc = includeHead ? Linear(inputFeatures: 512 * expansion, outputFeatures: classes) : nil
        layers = []
        super.init()
        let conv1 = Conv2d(inputChannels: 3, outputChannels: 64, kernelSize: 7, stride: 2, padding: 3, bias: false)
        Init.kaimingNormal_(conv1.weight, fanOut: true)
        register("conv1", conv1)
        register("bn1", BatchNorm(features: 64))
        var built: [Sequential] = []
        for (i, planes) in [64, 128, 256, 512].enumerated() {
            let layer = makeLayer(planes: planes, count: counts[i], stride: i == 0 ? 1 : 2,
                                  dilate: i == 0 ? false : replaceStrideWithDilation[i - 1])
            register("layer\(i + 1)", layer)
            built.append(layer)
        }
        layers = built
        if let fc { register("fc", fc) }
        // torchvision: kaiming_normal_(fan_out) for every conv.
        for (_, m) in namedModules() { if let c = m as? Conv2d { Init.kaimingNormal_(c.weight, fanOut: true) } }
    }

    private func makeLayer(planes: Int, count: Int, stride: Int, dilate: Bool) -> Sequential {
        var stride = stride
        let previousDilation = dilation
        if dilate {
            dilation *= stride
            stride = 1
        }
        let expansion = block == .basic ? 1 : 4
        var downsample: Sequential?
        if stride != 1 || inplanes != planes * expansion {
            downsample = Sequential(
                Conv2d(inputChannels: inplanes, outputChannels: planes * expansion, kernelSize: 1, stride: stride, bias: false),
                BatchNorm(features: planes * expansion))
        }
        var blocks: [Module] = []
        blocks.append(makeBlock(inplanes, planes, stride, downsample, previousDilation))
        inplanes = planes * expansion
        for _ in 1..<count { blocks.append(makeBlock(inplanes, planes, 1, nil, dilation)) }
        return Sequential(blocks)
    }
    private func makeBlock(_ inp: Int, _ planes: Int, _ stride: Int, _ ds: Sequential?, _ dil: Int) -> Module {
        switch block {
        case .basic: return BasicBlock(inplanes: inp, planes: planes, stride: stride, downsample: ds, dilation: dil)
        case .bottleneck:
            return Bottleneck(inplanes: inp, planes: planes, stride: stride, downsample: ds, groups: groups, baseWidth: baseWidth, dilation: dil)
        }
    }

    public override var featureNames: [String] { ["layer1", "layer2", "layer3", "layer4"] }

    /// Output of layer4 [N, featureChannels, H/32, W/32] (H/8 with dilation).
    public func features(_ x: Tensor) -> Tensor {
        var h = (module(at: "bn1")!)((module(at: "conv1")!)(x)).relu_()
        h = maxPool2d(h, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1))
        for (i, l) in layers.enumerated() { h = hooked("layer\(i + 1)", l(h)) }
        return h
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        let f = features(x)
        guard let fc else { return f }
        return fc(adaptiveAvgPool2d(f, outputSize: (1, 1)).flattened(start: 1))
    }
}

let resnetEntries: [ModelEntry] = [
    ModelEntry(name: "resnet18", summary: "ResNet-18 (torchvision layout)", reference: "He et al. 2016", defaultClasses: 1,
               preprocessing: .imagenet, dense: false) { ResNet(block: .basic, counts: [2, 2, 2, 2], classes: $0.classes ?? 1) },
    ModelEntry(name: "resnet34", summary: "ResNet-34 (torchvision layout)", reference: "He et al. 2016", defaultClasses: 1,
               preprocessing: .imagenet, dense: false) { ResNet(block: .basic, counts: [3, 4, 6, 3], classes: $0.classes ?? 1) },
    ModelEntry(name: "resnet50", summary: "ResNet-50 (torchvision layout)", reference: "He et al. 2016", defaultClasses: 1,
               preprocessing: .imagenet, dense: false) { ResNet(block: .bottleneck, counts: [3, 4, 6, 3], classes: $0.classes ?? 1) },
    ModelEntry(name: "resnext50_32x4d", summary: "ResNeXt-50 32x4d (torchvision layout)", reference: "Xie et al. 2017",
               defaultClasses: 1, preprocessing: .imagenet, dense: false) {
        ResNet(block: .bottleneck, counts: [3, 4, 6, 3], classes: $0.classes ?? 1, groups: 32, widthPerGroup: 4)
    },
    ModelEntry(name: "resnext101_32x8d", summary: "ResNeXt-101 32x8d (torchvision layout)", reference: "Xie et al. 2017",
               defaultClasses: 1, preprocessing: .imagenet, dense: false) {
        ResNet(block: .bottleneck, counts: [3, 4, 23, 3], classes: $0.classes ?? 1, groups: 32, widthPerGroup: 8)
    },
]
