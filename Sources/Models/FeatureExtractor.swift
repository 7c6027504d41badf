import NN
import Torch

/// A backbone that maps images to a fixed-size embedding (frozen-feature training, UniversalFakeDetect style).
public protocol FeatureExtractor: Module {
    /// [N, 3, H, W] -> [N, embeddingSize]
    func embedding(_ x: Tensor) -> Tensor
    var embeddingSize: Int { get }
    /// The registry key prefix of the classifier head that sits on the embedding ("_fc", "fc", "head").
    var headKey: String { get }
}

extension EfficientNetLite: FeatureExtractor {
    public var embeddingSize: Int { 1280 }
    public var headKey: String { "_fc" }
}

extension ResNet: FeatureExtractor {
    public func embedding(_ x: Tensor) -> Tensor { adaptiveAvgPool2d(features(x), outputSize: (1, 1)).flattened(start: 1) }
    public var embeddingSize: Int { featureChannels }
    public var headKey: String { "fc" }
}

extension CLIPProbe: FeatureExtractor {
    /// The unit-normalised CLIP image embedding.
    public func embedding(_ x: Tensor) -> Tensor {
        let e = encoder(x)
        return e / e.norm(axes: [1], keepDims: true).clamped(min: 1e-12)
    }
    public var embeddingSize: Int { 512 }
    public var headKey: String { "head" }
}

extension CLIPLayersProbe: FeatureExtractor {
    /// Every block's class token, layer-normalised, concatenated.
    public func embedding(_ x: Tensor) -> Tensor { layerFeatures(x) }
    public var embeddingSize: Int { encoder.width * encoder.featureNames.count }
    public var headKey: String { "head" }
}
