// A single-stage, anchor-free box detector of the YOLO family for generated regions (study 003's YOLO boxes):
// a ResNet-18 backbone, a small FPN neck (Lin et al. 2017) merged into one stride-8 map, and a decoupled head that
// predicts, at every location, an objectness logit and the distances to the box's four sides (FCOS, Tian et al.
// 2019; YOLOX, Ge et al. 2021: anchor-free, decoupled head). Trained with a focal loss on objectness and a GIoU
// loss on the boxes; decoded by non-maximum suppression. Not in `ModelRegistry`: its output is boxes, not a score
// or a mask, so it has its own training, evaluation (mAP) and model file (`aidetect localise train --boxes`).
import Foundation
import NN
import Torch

/// An axis-aligned box in pixels (x1, y1) - (x2, y2) with a score.
public struct ScoredBox: Sendable, Codable, Equatable {
    public var x1: Double, y1: Double, x2: Double, y2: Double
    public var score: Double
    public init(x1: Double, y1: Double, x2: Double, y2: Double, score: Double = 1) {
        self.x1 = x1; self.y1 = y1; self.x2 = x2; self.y2 = y2; self.score = score
    }
    public var area: Double { max(0, x2 - x1) * max(0, y2 - y1) }
    /// Intersection over union.
    public func iou(_ o: ScoredBox) -> Double {
        let w = min(x2, o.x2) - max(x1, o.x1), h = min(y2, o.y2) - max(y1, o.y1)
        guard w > 0, h > 0 else { return 0 }
        let inter = w * h
        return inter / (area + o.area - inter)
    }
    /// The box scaled by (sx, sy).
    public func scaled(_ sx: Double, _ sy: Double) -> ScoredBox {
        ScoredBox(x1: x1 * sx, y1: y1 * sy, x2: x2 * sx, y2: y2 * sy, score: score)
    }
}

/// Greedy non-maximum suppression: boxes by falling score, dropping any that overlaps a kept one by more than `iou`.
public func nonMaximumSuppression(_ boxes: [ScoredBox], iou: Double = 0.5, limit: Int = 100) -> [ScoredBox] {
    var kept: [ScoredBox] = []
    for b in boxes.sorted(by: { $0.score > $1.score }) where kept.count < limit {
        if kept.allSatisfy({ $0.iou(b) <= iou }) { kept.append(b) }
    }
    return kept
}

public final class BoxDetector: Module {
    /// Pixels per location of the output map.
    public let stride = 8
    public let width: Int
    let backbone: ResNet

    public init(width: Int = 96) {
        self.width = width
        backbone = ResNet(block: .basic, counts: [2, 2, 2, 2], includeHead: false)
        super.init()
        register("backbone", backbone)
        register("lateral3", Conv2d(inputChannels: 128, outputChannels: width, kernelSize: 1))
        register("lateral4", Conv2d(inputChannels: 256, outputChannels: width, kernelSize: 1))
        register("lateral5", Conv2d(inputChannels: 512, outputChannels: width, kernelSize: 1))
        func block() -> [Module] {
            [Conv2d(inputChannels: width, outputChannels: width, kernelSize: 3, padding: 1, bias: false), BatchNorm(features: width), ReLU()]
        }
        register("neck", Sequential(block()))
        // Decoupled head (YOLOX): one branch for objectness, one for the box.
        register("objectness_branch", Sequential(block() + block()))
        register("box_branch", Sequential(block() + block()))
        let obj = register("objectness", Conv2d(inputChannels: width, outputChannels: 1, kernelSize: 1))
        register("box", Conv2d(inputChannels: width, outputChannels: 4, kernelSize: 1))
        // Focal-loss prior (Lin et al. 2017): start every location at P(object) = 0.01.
        Init.constant_(obj.parameter("bias"), -Foundation.log(99.0))
    }

    public override var featureNames: [String] { ["neck"] }

    /// Raw outputs for [N, 3, H, W] (H, W multiples of 32): objectness logits [N, h, w] and box distances
    /// [N, 4, h, w] (log of left, top, right, bottom in strides), h = H / 8.
    public func raw(_ x: Tensor) -> (objectness: Tensor, box: Tensor) {
        var h = backbone.module(at: "bn1")!(backbone.module(at: "conv1")!(x)).relu_()
        h = maxPool2d(h, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1))
        let c2 = backbone.layers[0](h), c3 = backbone.layers[1](c2), c4 = backbone.layers[2](c3), c5 = backbone.layers[3](c4)
        // Top-down FPN, merged into the stride-8 map.
        let p5 = module(at: "lateral5")!(c5)
        let p4 = module(at: "lateral4")!(c4) + interpolate(p5, size: (c4.size(2), c4.size(3)), mode: .nearest)
        let p3 = module(at: "lateral3")!(c3) + interpolate(p4, size: (c3.size(2), c3.size(3)), mode: .nearest)
        let f = hooked("neck", module(at: "neck")!(p3))
        let obj = module(at: "objectness")!(module(at: "objectness_branch")!(f)).squeezed(axis: 1)
        let box = module(at: "box")!(module(at: "box_branch")!(f))
        return (obj, box)
    }
    /// [N, 5, h, w]: objectness logit, then the four log distances.
    public override func callAsFunction(_ x: Tensor) -> Tensor {
        let (o, b) = raw(x)
        return concatenated([o.unsqueezed(axis: 1), b], axis: 1)
    }

    /// Boxes in input pixels from raw distances: [N, 4, h, w] -> [N, h*w, 4] as (x1, y1, x2, y2).
    public func decode(_ box: Tensor) -> Tensor {
        let n = box.size(0), h = box.size(2), w = box.size(3)
        let s = Double(stride)
        // Location centres [1, h*w] in pixels.
        let xs = (Tensor.arange(0, Double(w), dtype: .float32) + 0.5) * s, ys = (Tensor.arange(0, Double(h), dtype: .float32) + 0.5) * s
        let cx = xs.reshaped([1, w]).expanded([h, w]).reshaped([1, h * w]), cy = ys.reshaped([h, 1]).expanded([h, w]).reshaped([1, h * w])
        // [N, 4, h, w] -> [N, 4, h*w]; distances exp(raw) strides, clamped so that exp stays finite.
        let d = box.clamped(min: -6, max: 6).exp().reshaped([n, 4, h * w]) * s
        let x1 = cx - d.select(axis: 1, index: 0), y1 = cy - d.select(axis: 1, index: 1)
        let x2 = cx + d.select(axis: 1, index: 2), y2 = cy + d.select(axis: 1, index: 3)
        return stacked([x1, y1, x2, y2], axis: 2)
    }

    /// Detected boxes per image of the batch, in input pixels, after NMS; scores are P(object).
    public func detect(_ x: Tensor, minimumScore: Double = 0.05, iou: Double = 0.5, limit: Int = 20) -> [[ScoredBox]] {
        let (obj, box) = withNoGrad { raw(x) }
        let n = x.size(0), hw = obj.size(1) * obj.size(2)
        let scores = obj.sigmoid().reshaped([n, hw]).toArray(Float.self)
        let boxes = withNoGrad { decode(box) }.toArray(Float.self)
        let W = Double(x.size(3)), H = Double(x.size(2))
        return (0..<n).map { i in
            var cands: [ScoredBox] = []
            for j in 0..<hw where Double(scores[i * hw + j]) >= minimumScore {
                let o = (i * hw + j) * 4
                cands.append(ScoredBox(x1: max(0, Double(boxes[o])), y1: max(0, Double(boxes[o + 1])),
                                       x2: min(W, Double(boxes[o + 2])), y2: min(H, Double(boxes[o + 3])), score: Double(scores[i * hw + j])))
            }
            return nonMaximumSuppression(cands.filter { $0.area > 0 }, iou: iou, limit: limit)
        }
    }

    /// Training targets for one image of `height` x `width` pixels: which locations are positive for `truths`
    /// (inside a box and within its centre region: 1.5 strides or a third of the box side from its centre, FCOS's
    /// centre sampling; the location holding the centre always), and the box each positive regresses (the smallest
    /// box when several claim it). Returns (positive flags [h*w], boxes [h*w] for the positives).
    public func targets(truths: [ScoredBox], height: Int, width: Int) -> (positive: [Bool], boxes: [ScoredBox?]) {
        let h = (height + stride - 1) / stride, w = (width + stride - 1) / stride, s = Double(stride)
        var positive = [Bool](repeating: false, count: h * w), boxes = [ScoredBox?](repeating: nil, count: h * w)
        for t in truths.sorted(by: { $0.area > $1.area }) {   // smaller boxes claim last, so they win
            let gcx = (t.x1 + t.x2) / 2, gcy = (t.y1 + t.y2) / 2
            let rx = max(1.5 * s, (t.x2 - t.x1) / 3), ry = max(1.5 * s, (t.y2 - t.y1) / 3)
            for i in 0..<h {
                for j in 0..<w {
                    let cx = (Double(j) + 0.5) * s, cy = (Double(i) + 0.5) * s
                    let inside = cx > t.x1 && cx < t.x2 && cy > t.y1 && cy < t.y2
                    let central = abs(cx - gcx) <= rx && abs(cy - gcy) <= ry
                    let holdsCentre = Int(gcx / s) == j && Int(gcy / s) == i
                    if (inside && central) || holdsCentre { positive[i * w + j] = true; boxes[i * w + j] = t }
                }
            }
        }
        return (positive, boxes)
    }

    /// Focal loss (alpha 0.25, gamma 2) on objectness over every location, plus `boxWeight` x (1 - GIoU) over the
    /// positives, both divided by the number of positives (at least 1). `truths[i]`: the boxes of image i (none for
    /// a pristine image) in input pixels.
    public func loss(_ x: Tensor, truths: [[ScoredBox]], boxWeight: Double = 2) -> Tensor {
        let (obj, box) = raw(x)
        let n = x.size(0), h = obj.size(1), w = obj.size(2)
        var flags = [Float](repeating: 0, count: n * h * w)
        var index: [Int64] = [], goal: [Float] = []
        for i in 0..<n {
            let (pos, bx) = targets(truths: truths[i], height: x.size(2), width: x.size(3))
            for j in 0..<(h * w) where pos[j] {
                flags[i * h * w + j] = 1
                index.append(Int64(i * h * w + j))
                let b = bx[j]!
                goal += [Float(b.x1), Float(b.y1), Float(b.x2), Float(b.y2)]
            }
        }
        let y = Tensor(flags, shape: [n, h, w])
        let p = obj.sigmoid()
        let ce = binaryCrossEntropyWithLogits(obj, targets: y, reduction: .none)
        let pt = p * y + (1 - p) * (1 - y)
        let alpha = y * 0.25 + (1 - y) * 0.75
        let focal = (ce * (1 - pt).pow(2) * alpha).sum()
        let positives = Double(max(index.count, 1))
        guard !index.isEmpty else { return focal / positives }
        // [N, h*w, 4] -> [N*h*w, 4] -> the positives [P, 4]
        let predicted = decode(box).reshaped([n * h * w, 4]).indexSelect(axis: 0, Tensor(index))
        let target = Tensor(goal, shape: [index.count, 4])
        return focal / positives + (1 - Self.giou(predicted, target)).sum() * (boxWeight / positives)
    }

    /// Generalised IoU (Rezatofighi et al. 2019) of matching rows of [P, 4] (x1, y1, x2, y2) boxes -> [P].
    public static func giou(_ a: Tensor, _ b: Tensor) -> Tensor {
        func c(_ t: Tensor, _ i: Int) -> Tensor { t.select(axis: 1, index: i) }
        let areaA = (c(a, 2) - c(a, 0)).clamped(min: 0) * (c(a, 3) - c(a, 1)).clamped(min: 0)
        let areaB = (c(b, 2) - c(b, 0)).clamped(min: 0) * (c(b, 3) - c(b, 1)).clamped(min: 0)
        let iw = (c(a, 2).minimum(c(b, 2)) - c(a, 0).maximum(c(b, 0))).clamped(min: 0)
        let ih = (c(a, 3).minimum(c(b, 3)) - c(a, 1).maximum(c(b, 1))).clamped(min: 0)
        let inter = iw * ih
        let union = areaA + areaB - inter + 1e-7
        let cw = c(a, 2).maximum(c(b, 2)) - c(a, 0).minimum(c(b, 0)), ch = c(a, 3).maximum(c(b, 3)) - c(a, 1).minimum(c(b, 1))
        let hull = cw * ch + 1e-7
        return inter / union - (hull - union) / hull
    }
}
