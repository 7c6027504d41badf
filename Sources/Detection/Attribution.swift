import Foundation
import NN
import Torch

/// Which kind of generator made an image, coarsely: what an attribution head names beside the verdict.
/// The verdict stays the binary calibrated probability; the family is a second, weaker opinion.
public enum AttributionFamily: String, Sendable, Codable, CaseIterable {
    case real
    /// Generative adversarial networks (StyleGAN, DCGAN, WGAN, SNGAN, and VQGAN+CLIP, whose decoder is adversarially trained).
    case gan
    /// Models whose weights are published (Stable Diffusion and its fine-tunes, FLUX [dev], Kandinsky, latent and
    /// guided diffusion, DALL-E mini, our own DDPM ...).
    case openWeights = "open-weights"
    /// Hosted services whose weights are not published (DALL-E 2/3, Midjourney, gpt-image, Gemini / Nano Banana,
    /// Seedream, Ideogram, FLUX pro).
    case closedService = "closed-service"

    static let closed: [String] = ["dalle2", "dall-e", "midjourney", "gpt-image", "gpt-4o", "gemini", "imagen", "seedream", "ideogram",
                                   "flux-1.1-pro", "flux-pro", "firefly", "nano-banana"]

    /// The family of a sample's generator (by name, as our sets spell them); nil when unknown.
    public static func of(generator: String, label: Label) -> AttributionFamily? {
        if label == .real { return .real }
        let g = generator.lowercased()
        if closed.contains(where: { g.hasPrefix($0) || g.contains($0) }) { return .closedService }
        // VQGAN (+CLIP) counts as a GAN: its images come out of an adversarially trained decoder.
        if g.contains("gan") && !g.contains("organ") { return .gan }
        return g.isEmpty || g == "unknown" ? nil : .openWeights
    }
}

/// A multinomial logistic regression on standardised embeddings, trained full-batch with AdamW and early stopping
/// on the validation loss; classes balanced (or weighted per row).
public struct SoftmaxProbe: Sendable {
    /// [C, D] row-major, in original (unstandardised) feature space, and [C].
    public var weight: [Float]
    public var bias: [Float]
    public var classes: Int
    public var steps: Int

    /// Class probabilities for features [N, D]: [N][C].
    public func probabilities(_ x: Tensor) -> [[Double]] {
        let w = Tensor(weight, shape: [classes, weight.count / classes])
        let p = (x.matmul(w.transposed(0, 1)) + Tensor(bias, shape: [1, classes])).softmax(axis: 1).toArray(Float.self).map(Double.init)
        return stride(from: 0, to: p.count, by: classes).map { Array(p[$0..<($0 + classes)]) }
    }

    public static func train(x: Tensor, y: [Int], classes: Int, validationX: Tensor, validationY: [Int], weights: [Double]? = nil,
                             options: LinearProbe.Options = LinearProbe.Options()) -> SoftmaxProbe {
        Runtime.manualSeed(options.seed)
        let mean = x.mean(axes: [0], keepDims: true), std = x.std(axes: [0], keepDims: true).clamped(min: 1e-6)
        let xs = (x - mean) / std, vs = (validationX - mean) / std
        func balanced(_ labels: [Int]) -> [Double] {
            let counts = labels.reduce(into: [Int: Int]()) { $0[$1, default: 0] += 1 }
            return labels.map { 1 / Double(counts[$0]!) / Double(counts.count) }
        }
        func normalised(_ w: [Double]) -> Tensor {
            let total = w.reduce(0, +)
            return Tensor(w.map { Float($0 / max(total, 1e-12)) })
        }
        let wt = normalised(weights ?? balanced(y)), vwt = normalised(balanced(validationY))
        let yt = Tensor(y.map { Int64($0) }), vt = Tensor(validationY.map { Int64($0) })
        func loss(_ logits: Tensor, _ t: Tensor, _ w: Tensor) -> Tensor { (crossEntropy(logits, targets: t, reduction: .none) * w).sum() }
        let head = Linear(inputFeatures: x.size(1), outputFeatures: classes)
        withNoGrad { head.weight.zero_(); head.bias?.zero_() }
        let (bestW, bestB, steps, _) = fitWithEarlyStopping(head, options: options, trainLoss: { loss(head(xs), yt, wt) },
                                                            validationLoss: { loss(head(vs), vt, vwt).item() })
        let w = bestW / std                                   // [C, D]
        let b = bestB - (w * mean).sum(axes: [1])             // [C]
        return SoftmaxProbe(weight: w.reshaped([-1]).toArray(Float.self), bias: b.toArray(Float.self), classes: classes, steps: steps)
    }
}

/// An attribution head's figures: confusion matrices (rows: true family, columns: predicted) on the test split and
/// on images of sources held out of training (leave one source out).
public struct AttributionReport: Sendable, Codable {
    public var classes: [String]
    public var testConfusion: [[Int]]
    public var testAccuracy: Double
    public var heldOutSourceConfusion: [[Int]]
    public var heldOutSourceAccuracy: Double

    static func confusion(_ truth: [Int], _ predicted: [Int], classes: Int) -> ([[Int]], Double) {
        var m = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
        for (t, p) in zip(truth, predicted) { m[t][p] += 1 }
        let right = zip(truth, predicted).filter { $0 == $1 }.count
        return (m, truth.isEmpty ? .nan : Double(right) / Double(truth.count))
    }
}
