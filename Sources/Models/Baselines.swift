// Baselines of the studies:
// - study 000: a multilayer perceptron and a LeNet-style CNN (LeCun et al. 1998, "Gradient-based learning
//   applied to document recognition") on 32 px images;
// - study 002: the CIFAKE CNN family (Bird & Lotfi 2024, "CIFAKE: Image classification and explainable
//   identification of AI-generated synthetic images"): 1-3 conv layers of 16-128 3x3 filters, each followed by
//   ReLU and 2x2 max pooling, then dense ReLU layers and a sigmoid output.
import NN
import Torch

/// Flatten -> Linear/ReLU/Dropout stack -> logits. Input [N, C, H, W].
public final class MLPBaseline: Module {
    public let net: Sequential
    public init(inputFeatures: Int, hidden: [Int] = [512, 128], classes: Int = 1, dropout: Double = 0.2) {
        var layers: [Module] = [Flatten()]
        var width = inputFeatures
        for h in hidden {
            layers += [Linear(inputFeatures: width, outputFeatures: h), ReLU(), Dropout(dropout)]
            width = h
        }
        layers.append(Linear(inputFeatures: width, outputFeatures: classes))
        net = Sequential(layers)
        super.init()
        register("net", net)
    }
    public override func callAsFunction(_ x: Tensor) -> Tensor { net(x) }
}

/// conv5(6) -> pool -> conv5(16) -> pool -> 120 -> 84 -> classes, for 32 px input.
public final class LeNet: Module {
    public let features: Sequential, classifier: Sequential
    public init(inputChannels: Int = 3, classes: Int = 1) {
        features = Sequential(
            Conv2d(inputChannels: inputChannels, outputChannels: 6, kernelSize: 5), ReLU(), MaxPool2d(kernelSize: 2),
            Conv2d(inputChannels: 6, outputChannels: 16, kernelSize: 5), ReLU(), MaxPool2d(kernelSize: 2))
        classifier = Sequential(
            Flatten(), Linear(inputFeatures: 16 * 5 * 5, outputFeatures: 120), ReLU(),
            Linear(inputFeatures: 120, outputFeatures: 84), ReLU(), Linear(inputFeatures: 84, outputFeatures: classes))
        super.init()
        register("features", features)
        register("classifier", classifier)
    }
    public override var featureNames: [String] { ["features"] }
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.size(2) == 32 && x.size(3) == 32, "LeNet expects [N, C, 32, 32], got \(x.shape)")
        return classifier(hooked("features", features(x)))
    }
}

/// The CIFAKE topology: `convLayers` x (Conv3x3(filters) -> ReLU -> MaxPool2) -> dense ReLU layers -> logits.
public final class CIFAKECNN: Module {
    public let features: Sequential, classifier: Sequential
    public let convLayers: Int, filters: Int, dense: [Int]
    public init(inputSize: Int = 32, inputChannels: Int = 3, convLayers: Int = 2, filters: Int = 32, dense: [Int] = [64],
                classes: Int = 1) {
        precondition((1...4).contains(convLayers), "CIFAKECNN: convLayers must be 1...4, got \(convLayers)")
        self.convLayers = convLayers
        self.filters = filters
        self.dense = dense
        var layers: [Module] = []
        var side = inputSize, channels = inputChannels
        for _ in 0..<convLayers {
            layers += [Conv2d(inputChannels: channels, outputChannels: filters, kernelSize: 3), ReLU(), MaxPool2d(kernelSize: 2)]
            channels = filters
            side = (side - 2) / 2
        }
        precondition(side >= 1, "CIFAKECNN: \(convLayers) conv layers leave no pixels of a \(inputSize) px input")
        features = Sequential(layers)
        var head: [Module] = [Flatten()]
        var width = channels * side * side
        for d in dense {
            head += [Linear(inputFeatures: width, outputFeatures: d), ReLU()]
            width = d
        }
        head.append(Linear(inputFeatures: width, outputFeatures: classes))
        classifier = Sequential(head)
        super.init()
        register("features", features)
        register("classifier", classifier)
    }
    public override var featureNames: [String] { ["features"] }
    public override func callAsFunction(_ x: Tensor) -> Tensor { classifier(hooked("features", features(x))) }
}

let baselineEntries: [ModelEntry] = [
    ModelEntry(name: "mlp_baseline", summary: "MLP on 32 px pixels (study 000)", reference: "study 000",
               defaultClasses: 1, preprocessing: .unit, dense: false) { o in
        MLPBaseline(inputFeatures: o.inputChannels * (o.inputSize ?? 32) * (o.inputSize ?? 32), classes: o.classes ?? 1)
    },
    ModelEntry(name: "lenet_baseline", summary: "LeNet-style CNN on 32 px (study 000)", reference: "LeCun et al. 1998",
               defaultClasses: 1, preprocessing: .unit, dense: false) { o in
        LeNet(inputChannels: o.inputChannels, classes: o.classes ?? 1)
    },
    ModelEntry(name: "cifake_cnn", summary: "CIFAKE CNN family: conv layers x filters x dense (study 002)",
               reference: "Bird & Lotfi 2024", defaultClasses: 1, preprocessing: .unit, dense: false) { o in
        CIFAKECNN(inputSize: o.inputSize ?? 32, inputChannels: o.inputChannels, convLayers: o.convLayers ?? 2, filters: o.filters ?? 32,
                  dense: o.dense ?? [64], classes: o.classes ?? 1)
    },
]
