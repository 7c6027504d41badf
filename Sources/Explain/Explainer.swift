import Detection
import Foundation
import Imaging
import ImagingTorch
import Models
import NN
import Torch

/// What an explanation shows. Each method yields one map per image, except saliency (a positive and a negative map).
public enum ExplanationMethod: String, CaseIterable, Sendable, Codable {
    /// Grad-CAM (Selvaraju et al. 2017): channel weights = spatial mean of d(logit)/d(feature), ReLU of the weighted sum.
    case gradcam
    /// Guided backpropagation (Springenberg et al. 2015): input gradient with ReLU backward passing only positive
    /// gradients; the map is the channel maximum of its magnitude.
    case guided
    /// Vanilla gradient saliency (Simonyan et al. 2014) split into evidence for "AI" (positive gradient) and
    /// against it (negative), each the channel maximum of its part.
    case saliency
    /// Channel mean of a layer's (ReLU'd) activations.
    case activation
    /// Attention rollout (Abnar & Zuidema 2020) for transformers: head mean + identity, rows renormalised,
    /// multiplied across blocks; the class token's row over the patches.
    case rollout
    /// Per-pixel P(AI) of a fully convolutional model (FCN, U-Net).
    case pixels

    public var summary: String {
        switch self {
        case .gradcam: return "Grad-CAM on a layer (default: the last feature stage)"
        case .guided: return "guided backpropagation (positive gradients through ReLUs)"
        case .saliency: return "gradient saliency, positive (towards AI) and negative (towards real) maps"
        case .activation: return "mean activation of a layer"
        case .rollout: return "attention rollout (transformers)"
        case .pixels: return "per-pixel P(AI) of a fully convolutional model"
        }
    }
}

public enum ExplainError: Error, LocalizedError, Equatable {
    case unknownLayer(String, available: [String])
    case notApplicable(ExplanationMethod, model: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case .unknownLayer(let l, let available):
            return "no feature layer '\(l)'; this model offers: \(available.isEmpty ? "none" : available.joined(separator: ", "))"
        case .notApplicable(let m, let model, let reason): return "\(m.rawValue) does not apply to \(model): \(reason)"
        }
    }
}

/// Explains a detector's verdicts with heat maps at the image's full resolution: each model input view (the
/// whole image resized, centre crops, or native tiles) is explained and mapped back to where it came from;
/// overlapping views are averaged. With `tiled`, an image larger than the model input is cut into native
/// tiles so that the maps keep full detail.
///
/// ```swift
/// let explainer = Explainer(detector: try Detector.loadDefault())
/// let maps = try explainer.explain(image, method: .gradcam)   // [Heatmap] of image.width x image.height
/// ```
public struct Explainer {
    public let model: Module
    public let preprocessing: Preprocessing
    /// The model returns per-pixel logits [N, 1, H, W] (FCN, U-Net).
    public let dense: Bool
    public let modelName: String
    let exclusive: ((Module) throws -> Void) throws -> Void
    /// Cut large images into native-resolution tiles of the model's input size.
    public var tiled = false
    /// At most this many tiles per image when `tiled`.
    public var maxTiles = 256
    /// Explain evidence for this class: +1 = "AI-generated" (the logit), -1 = "real".
    public var sign: Double = 1

    /// Explains a loaded detector (holding its model exclusively while a map is computed).
    public init(detector: Detector) {
        model = detector.model
        preprocessing = detector.preprocessing
        dense = detector.entry.dense
        modelName = detector.name
        exclusive = { body in try detector.withExclusiveModel(body) }
    }

    /// Explains any binary model (one logit, or per-pixel logits when `dense`).
    public init(model: Module, preprocessing: Preprocessing, dense: Bool = false, name: String = "model") {
        self.model = model
        self.preprocessing = preprocessing
        self.dense = dense
        modelName = name
        exclusive = { body in try body(model) }
    }

    /// Feature layers a method can use (`gradcam`, `activation`), in forward order; the last is the default.
    public var layers: [String] { Self.featureLayers(model) }

    static func featureLayers(_ model: Module) -> [String] {
        model.namedModules().flatMap { path, m in m.featureNames.map { path.isEmpty ? $0 : "\(path).\($0)" } }
    }

    /// The layer Grad-CAM and activation maps use when none is named: a module's `explanationFeature` where one
    /// names it (transformers: the block before the last), else the last feature layer.
    public var defaultLayer: String? {
        let preferred = model.namedModules().compactMap { path, m in m.explanationFeature.map { path.isEmpty ? $0 : "\(path).\($0)" } }
        return preferred.first ?? layers.last
    }

    /// Why `method` cannot explain this model, or nil when it can (checked from the model's structure, before any
    /// image is seen). Clients offer only the methods for which this is nil.
    public func inapplicability(of method: ExplanationMethod) -> String? {
        switch method {
        case .gradcam, .activation: return layers.isEmpty ? "it offers no feature layers" : nil
        case .guided, .saliency: return nil
        case .rollout:
            return model.namedModules().contains(where: { $0.1 is AttentionRecording }) ? nil : "it has no attention layers"
        case .pixels: return dense ? nil : "it returns one score per image, not per pixel"
        }
    }

    /// The methods that apply to this model, in `ExplanationMethod.allCases` order.
    public var applicableMethods: [ExplanationMethod] { ExplanationMethod.allCases.filter { inapplicability(of: $0) == nil } }

    /// Heat maps of `image` (width x height each) for `method`; `layer` picks the feature layer for Grad-CAM and
    /// activation maps.
    /// - Throws: `ExplainError` when the method does not fit the model or the layer is unknown.
    public func explain(_ image: Image, method: ExplanationMethod, layer: String? = nil) throws -> [Heatmap] {
        let pre = Preprocessor(preprocessing, maxTiles: maxTiles)
        let useTiles = tiled && (image.width > preprocessing.inputSize || image.height > preprocessing.inputSize)
            && preprocessing.policy != .native
        let (batch, boxes): (Tensor, [ViewBox])
        if useTiles {
            let t = pre.tiles(image, size: preprocessing.inputSize)
            batch = stacked(t.map { $0.0.normalizedTensor(mean: preprocessing.mean, std: preprocessing.std) })
            boxes = t.map { ViewBox(x: $0.1.0, y: $0.1.1, width: $0.1.2, height: $0.1.2) }
        } else {
            let v = pre.views(image)
            batch = v.batch
            boxes = v.boxes.map { viewBox($0, image: image) }
        }
        // Views one at a time: bounded memory for many tiles, and per-view gradients stay separate.
        var perView: [[Tensor]] = []
        for i in 0..<batch.size(0) {
            let x = batch[i].unsqueezed(axis: 0)
            try exclusive { model in
                perView.append(try viewMaps(model, x.to(device: model.device), method: method, layer: layer).map { $0.to(device: .cpu) })
            }
        }
        let names = method == .saliency ? ["saliency+", "saliency-"] : [method.rawValue]
        return names.indices.map { k in
            stitch(perView.map { $0[k] }, boxes: boxes, image: image, name: names[k])
        }
    }

    /// Where a view's pixels came from in the image.
    struct ViewBox { var x: Int, y: Int, width: Int, height: Int }

    func viewBox(_ b: (x: Int, y: Int, size: Int), image: Image) -> ViewBox {
        switch preprocessing.policy {
        case .resize, .native:
            return ViewBox(x: 0, y: 0, width: image.width, height: image.height)
        case .resizeCenterCrop:
            // The view is the centre cropFraction of the square window.
            let inner = Int((Double(b.size) * min(preprocessing.cropFraction, 1)).rounded())
            let off = (b.size - inner) / 2
            return ViewBox(x: b.x + off, y: b.y + off, width: inner, height: inner)
        case .tile:
            return ViewBox(x: b.x, y: b.y, width: b.size, height: b.size)
        }
    }

    /// The scalar whose gradient is explained: the (signed) logit, averaged over pixels for dense models.
    func target(_ out: Tensor) -> Tensor {
        (dense ? out.mean(axes: [1, 2, 3]) : out.reshaped([-1])).sum() * sign
    }

    /// Maps of one view [1, 3, S, S] as [h, w] tensors (any resolution; stitched later).
    func viewMaps(_ model: Module, _ x: Tensor, method: ExplanationMethod, layer: String?) throws -> [Tensor] {
        switch method {
        case .gradcam, .activation:
            let available = Self.featureLayers(model)
            guard let name = layer ?? defaultLayer else {
                throw ExplainError.notApplicable(method, model: modelName, reason: "it offers no feature layers")
            }
            guard available.contains(name) else { throw ExplainError.unknownLayer(name, available: available) }
            var captured: Tensor?
            model.setFeatureHook(name) { f in
                let leaf = f.detached().requiringGrad()
                captured = leaf
                return leaf
            }
            defer { model.setFeatureHook(name, nil) }
            let out = model(x)
            guard let a = captured else {
                throw ExplainError.notApplicable(method, model: modelName, reason: "layer \(name) was not reached")
            }
            let fmap = try spatial(a, layer: name)  // [1, C, h, w]
            if method == .activation { return [fmap.relu().mean(axis: 1)[0].detached()] }
            let g = try spatial(gradients(of: [target(out)], withRespectTo: [a])[0], layer: name)
            let weights = g.mean(axes: [2, 3], keepDims: true)
            return [(weights * fmap).sum(axis: 1).relu()[0].detached()]
        case .guided, .saliency:
            let input = x.detached().requiringGrad()
            let g: Tensor = method == .guided
                ? withGuidedReLU { gradients(of: [target(model(input))], withRespectTo: [input])[0] }
                : gradients(of: [target(model(input))], withRespectTo: [input])[0]
            if method == .guided { return [g.abs().max(axis: 1)[0]] }
            return [g.relu().max(axis: 1)[0], (-g).relu().max(axis: 1)[0]]
        case .rollout:
            let attention = model.namedModules().compactMap { $0.1 as? AttentionRecording }
            guard !attention.isEmpty else {
                throw ExplainError.notApplicable(method, model: modelName, reason: "it has no attention layers")
            }
            for a in attention { a.keepAttention = true }
            defer { for a in attention { a.keepAttention = false } }
            _ = withNoGrad { model(x) }
            let maps = attention.compactMap(\.lastAttention)
            let r = attentionRollout(maps)  // [1, T, T]
            let t = r.size(1)
            // Class token first; the patch tokens make a square grid (extra tokens, e.g. distillation, are skipped).
            let grid = Int(Double(t - 1).squareRoot())
            guard grid * grid >= 1 else { throw ExplainError.notApplicable(method, model: modelName, reason: "\(t) tokens") }
            let row = r[0][0]  // [T]
            return [row.slice(axis: 0, start: t - grid * grid, end: t).reshaped([grid, grid])]
        case .pixels:
            guard dense else {
                throw ExplainError.notApplicable(method, model: modelName, reason: "it returns one score per image, not per pixel")
            }
            return [withNoGrad { model(x) }.sigmoid()[0][0]]
        }
    }

    /// Feature maps as [N, C, h, w]: transformer tokens [N, T, D] become a grid (class token dropped).
    func spatial(_ f: Tensor, layer: String) throws -> Tensor {
        if f.rank == 4 { return f }
        if f.rank == 3 {
            let t = f.size(1), grid = Int(Double(t - 1).squareRoot())
            guard grid > 0 else { throw ExplainError.notApplicable(.gradcam, model: modelName, reason: "layer \(layer) has \(t) tokens") }
            // [N, T, D] -> [N, grid*grid, D] -> [N, D, grid*grid] -> [N, D, grid, grid]
            return f.slice(axis: 1, start: t - grid * grid, end: t).transposed(1, 2)
                .reshaped([f.size(0), f.size(2), grid, grid])
        }
        throw ExplainError.notApplicable(.gradcam, model: modelName, reason: "layer \(layer) has shape \(f.shape)")
    }

    /// Places each view's map where the view came from (bilinear resize). Overlapping views are blended with weights
    /// that fall off towards each view's edges (no seam where two views meet), and pixels no view covers (the margin
    /// a centre crop leaves) take the value of the nearest covered pixel (no dark border that the model never saw).
    func stitch(_ maps: [Tensor], boxes: [ViewBox], image: Image, name: String) -> Heatmap {
        let w = image.width, h = image.height
        var sum = [Float](repeating: 0, count: w * h), weight = [Float](repeating: 0, count: w * h)
        // Weight along one axis: 1 in the middle, ramping down over the outer quarter to a small floor at the edge
        // (the floor keeps pixels that only an edge covers).
        func ramp(_ i: Int, _ n: Int) -> Float {
            let edge = Float(min(i, n - 1 - i)) + 0.5, width = max(1, Float(n) / 4)
            return max(0.05, min(1, edge / width))
        }
        var covered = (x0: w, y0: h, x1: -1, y1: -1)
        for (m, b) in zip(maps, boxes) {
            let resized = interpolate(m.to(.float32).reshaped([1, 1, m.size(0), m.size(1)]), size: (b.height, b.width),
                                      mode: .bilinear, alignCorners: false)
            let v = resized.reshaped([-1]).toArray(Float.self)
            let single = maps.count == 1
            for yy in 0..<b.height where b.y + yy >= 0 && b.y + yy < h {
                let row = (b.y + yy) * w, wy = single ? 1 : ramp(yy, b.height)
                for xx in 0..<b.width where b.x + xx >= 0 && b.x + xx < w {
                    let k = single ? 1 : wy * ramp(xx, b.width)
                    sum[row + b.x + xx] += v[yy * b.width + xx] * k
                    weight[row + b.x + xx] += k
                }
            }
            covered = (min(covered.x0, max(0, b.x)), min(covered.y0, max(0, b.y)),
                       max(covered.x1, min(w, b.x + b.width) - 1), max(covered.y1, min(h, b.y + b.height) - 1))
        }
        var values = zip(sum, weight).map { $1 > 0 ? $0 / $1 : Float.nan }
        if covered.x1 >= covered.x0 && covered.y1 >= covered.y0 {
            for y in 0..<h {
                for x in 0..<w where weight[y * w + x] == 0 {
                    let cx = min(max(x, covered.x0), covered.x1), cy = min(max(y, covered.y0), covered.y1)
                    values[y * w + x] = weight[cy * w + cx] > 0 ? values[cy * w + cx] : 0
                }
            }
        }
        return Heatmap(name: name, width: w, height: h, values: values.map { $0.isNaN ? 0 : $0 })
    }
}

/// Attention rollout: for each block, A = mean over heads of the attention [N, H, T, T], A' = (A + I) with rows
/// renormalised to sum to 1; the result is A'_L ... A'_1 ([N, T, T], rows sum to 1).
public func attentionRollout(_ attentions: [Tensor]) -> Tensor {
    precondition(!attentions.isEmpty, "attentionRollout: no attention maps")
    var result: Tensor?
    for a in attentions {
        precondition(a.rank == 4 && a.size(2) == a.size(3), "attentionRollout: expected [N, H, T, T], got \(a.shape)")
        let t = a.size(2)
        let mean = a.to(.float64).mean(axis: 1)  // [N, T, T]
        let eye = Tensor.eye(t, dtype: .float64).unsqueezed(axis: 0)
        let withResidual = mean + eye
        let normalised = withResidual / withResidual.sum(axis: -1, keepDims: true)
        result = result.map { normalised.matmul($0) } ?? normalised
    }
    return result!.to(.float32)
}

/// Attention layers that can keep their last attention map (ViT's attention, CLIP's multi-head attention).
public protocol AttentionRecording: AnyObject {
    var keepAttention: Bool { get set }
    var lastAttention: Tensor? { get }
}

extension ViTAttention: AttentionRecording {}
extension MultiheadAttention: AttentionRecording {}
