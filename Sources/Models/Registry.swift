import Foundation
import NN
import Torch

/// How images are prepared for a model (input size, normalisation, what to do with other sizes).
public struct Preprocessing: Sendable, Equatable, Codable {
    /// How an image whose size differs from `inputSize` is handled.
    public enum SizePolicy: String, Sendable, Codable {
        /// Resize the whole image to inputSize x inputSize (aspect not kept).
        case resize
        /// Resize the shorter side to inputSize / cropFraction, then centre-crop inputSize (ImageNet eval).
        case resizeCenterCrop
        /// Cut inputSize tiles at native resolution and aggregate their scores (no resampling).
        case tile
        /// Feed the image at its own size (fully convolutional models).
        case native
    }
    public var inputSize: Int
    public var mean: [Float]
    public var std: [Float]
    public var policy: SizePolicy
    /// Interpolation for resizing ("bilinear", "bicubic", "lanczos", "area").
    public var interpolation: String
    public var cropFraction: Double

    public init(inputSize: Int, mean: [Float], std: [Float], policy: SizePolicy, interpolation: String = "bilinear",
                cropFraction: Double = 0.875) {
        self.inputSize = inputSize
        self.mean = mean
        self.std = std
        self.policy = policy
        self.interpolation = interpolation
        self.cropFraction = cropFraction
    }
    public static let imagenet = Preprocessing(inputSize: 224, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225],
                                               policy: .resizeCenterCrop, interpolation: "bilinear")
    public static let cifar = Preprocessing(inputSize: 32, mean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616],
                                            policy: .resize, interpolation: "area", cropFraction: 1)
    public static let unit = Preprocessing(inputSize: 32, mean: [0, 0, 0], std: [1, 1, 1], policy: .resize,
                                           interpolation: "area", cropFraction: 1)
    public static let clip = Preprocessing(inputSize: 224, mean: [0.48145466, 0.4578275, 0.40821073],
                                           std: [0.26862954, 0.26130258, 0.27577711], policy: .resizeCenterCrop,
                                           interpolation: "bicubic", cropFraction: 1)
    /// TF EfficientNet-Lite: (pixel - 127) / 128 on the 0-255 scale.
    public static let efficientnetLite = Preprocessing(inputSize: 224, mean: [127.0 / 255, 127.0 / 255, 127.0 / 255],
                                                       std: [128.0 / 255, 128.0 / 255, 128.0 / 255], policy: .resizeCenterCrop,
                                                       interpolation: "bilinear")
}

/// Options a registry entry may read when building a model.
public struct ModelOptions: Sendable {
    /// Output logits: 1 for a binary real/AI detector (sigmoid = P(AI)), N for N-way classification.
    public var classes: Int?
    /// CIFAKE family: number of conv layers (1-3), filters per layer, dense layer sizes.
    public var convLayers: Int?
    public var filters: Int?
    public var dense: [Int]?
    public var inputChannels: Int = 3
    /// Input side for models whose layers depend on it (CIFAKE CNN, MLP); others ignore it.
    public var inputSize: Int?
    public init(classes: Int? = nil, convLayers: Int? = nil, filters: Int? = nil, dense: [Int]? = nil) {
        self.classes = classes
        self.convLayers = convLayers
        self.filters = filters
        self.dense = dense
    }
}

/// One registered architecture (timm-style name) with its preprocessing.
public struct ModelEntry: Sendable {
    public let name: String
    public let summary: String
    /// The paper or source the implementation follows.
    public let reference: String
    public let defaultClasses: Int
    public let preprocessing: Preprocessing
    /// Per-pixel output ([N, classes, H, W]) instead of [N, classes].
    public let dense: Bool
    let build: @Sendable (ModelOptions) -> Module

    /// Builds a freshly initialised model.
    public func make(_ options: ModelOptions = ModelOptions()) -> Module { build(options) }
}

public enum ModelError: Error, LocalizedError, Equatable {
    case unknownModel(String, known: [String])
    public var errorDescription: String? {
        switch self {
        case .unknownModel(let n, let known): return "unknown model '\(n)'; known models: \(known.joined(separator: ", "))"
        }
    }
}

/// The model zoo, by timm-style name (`resnet18`, `vit_small_patch16_224`, a tag after a dot is ignored
/// for lookup: `resnet18.aidetect_v1`).
public enum ModelRegistry {
    public static let entries: [ModelEntry] = baselineEntries + resnetEntries + cifarResNetEntries + vitEntries + swinEntries
        + denseEntries + efficientNetEntries + clipEntries

    public static var names: [String] { entries.map(\.name) }

    public static func entry(_ name: String) throws -> ModelEntry {
        let base = name.split(separator: ".").first.map(String.init) ?? name
        guard let e = entries.first(where: { $0.name == base }) else { throw ModelError.unknownModel(name, known: names) }
        return e
    }
    /// Builds a model by name.
    public static func create(_ name: String, options: ModelOptions = ModelOptions()) throws -> Module {
        try entry(name).make(options)
    }
}
