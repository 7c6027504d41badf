// Per-pixel models for localising manipulated regions:
// - fcn_resnet50: Long et al. 2015, "Fully Convolutional Networks for Semantic Segmentation", in torchvision's
//   layout (backbone = dilated ResNet-50 without head, classifier = FCNHead), logits upsampled to the input.
// - unet_small: Ronneberger et al. 2015, "U-Net", four levels (16-128 channels) with a 256-channel bottleneck.
// Both take any input size and return [N, classes, H, W] logits.
import NN
import Torch

public final class FCN: Module {
    public let backbone: ResNet
    public let classifier: Sequential
    public init(classes: Int = 1) {
        backbone = ResNet(block: .bottleneck, counts: [3, 4, 6, 3], replaceStrideWithDilation: [false, true, true], includeHead: false)
        classifier = Sequential(
            Conv2d(inputChannels: 2048, outputChannels: 512, kernelSize: 3, padding: 1, bias: false),
            BatchNorm(features: 512), ReLU(), Dropout(0.1),
            Conv2d(inputChannels: 512, outputChannels: classes, kernelSize: 1))
        super.init()
        register("backbone", backbone)
        register("classifier", classifier)
    }
    public override var featureNames: [String] { ["classifier"] }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        let f = backbone.features(x)
        let logits = hooked("classifier", classifier(f))
        return interpolate(logits, size: (x.size(2), x.size(3)), mode: .bilinear)
    }
}

final class DoubleConv: Module {
    let net: Sequential
    init(_ cin: Int, _ cout: Int) {
        net = Sequential(
            Conv2d(inputChannels: cin, outputChannels: cout, kernelSize: 3, padding: 1, bias: false), BatchNorm(features: cout), ReLU(),
            Conv2d(inputChannels: cout, outputChannels: cout, kernelSize: 3, padding: 1, bias: false), BatchNorm(features: cout), ReLU())
        super.init()
        register("net", net)
    }
    override func callAsFunction(_ x: Tensor) -> Tensor { net(x) }
}

public final class UNet: Module {
    let downs: [DoubleConv], ups: [ConvTranspose2d], decoders: [DoubleConv]
    let bottleneck: DoubleConv, head: Conv2d
    public let widths: [Int]
    public init(inputChannels: Int = 3, classes: Int = 1, widths: [Int] = [16, 32, 64, 128]) {
        self.widths = widths
        var cin = inputChannels
        var d: [DoubleConv] = []
        for w in widths { d.append(DoubleConv(cin, w)); cin = w }
        downs = d
        bottleneck = DoubleConv(widths.last!, widths.last! * 2)
        var u: [ConvTranspose2d] = [], dec: [DoubleConv] = []
        var c = widths.last! * 2
        for w in widths.reversed() {
            u.append(ConvTranspose2d(inputChannels: c, outputChannels: w, kernelSize: 2, stride: 2))
            dec.append(DoubleConv(w * 2, w))
            c = w
        }
        ups = u
        decoders = dec
        head = Conv2d(inputChannels: widths.first!, outputChannels: classes, kernelSize: 1)
        super.init()
        register("downs", Sequential(downs)); register("bottleneck", bottleneck)
        register("ups", Sequential(ups)); register("decoders", Sequential(decoders)); register("head", head)
    }
    public override var featureNames: [String] { ["bottleneck", "decoder"] }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        // Pad to a multiple of 2^levels (reflect), crop the output back.
        let m = 1 << widths.count
        let h = x.size(2), w = x.size(3)
        let ph = (m - h % m) % m, pw = (m - w % m) % m
        var t = (ph > 0 || pw > 0) ? x.padded([0, pw, 0, ph], mode: h > ph && w > pw ? .reflect : .replicate) : x
        var skips: [Tensor] = []
        for d in downs {
            t = d(t)
            skips.append(t)
            t = maxPool2d(t, kernelSize: (2, 2))
        }
        t = hooked("bottleneck", bottleneck(t))
        for (i, (up, dec)) in zip(ups, decoders).enumerated() {
            t = dec(concatenated([up(t), skips[skips.count - 1 - i]], axis: 1))
        }
        t = hooked("decoder", t)
        return head(t).slice(axis: 2, start: 0, end: h).slice(axis: 3, start: 0, end: w)
    }
}

let denseEntries: [ModelEntry] = [
    ModelEntry(name: "fcn_resnet50", summary: "FCN with dilated ResNet-50 backbone: per-pixel AI probability",
               reference: "Long et al. 2015", defaultClasses: 1,
               preprocessing: Preprocessing(inputSize: 256, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], policy: .native),
               dense: true) { FCN(classes: $0.classes ?? 1) },
    ModelEntry(name: "unet_small", summary: "small U-Net (16-128 channels): per-pixel AI probability", reference: "Ronneberger et al. 2015",
               defaultClasses: 1,
               preprocessing: Preprocessing(inputSize: 256, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], policy: .native),
               dense: true) { UNet(inputChannels: $0.inputChannels, classes: $0.classes ?? 1) },
]
