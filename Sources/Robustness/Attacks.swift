import Detection
import Foundation
import Imaging
import ImagingTorch
import Models
import NN
import Torch

/// A detector seen as a differentiable function of pixels in [0, 1]: normalisation is inside, so attacks
/// bound their perturbation in pixel units. An optional input transformation (a defence) runs first.
public struct PixelModel {
    public let model: Module
    public let mean: [Float], std: [Float]
    public let dense: Bool
    public let inputSize: Int
    public var defence: Defence = .none
    /// Attack through the defence (an adaptive attack): blur is differentiable; JPEG passes the gradient
    /// straight through (BPDA, Athalye et al. 2018).
    public var attackKnowsDefence = false

    public init(model: Module, preprocessing: Preprocessing, dense: Bool = false) {
        self.model = model
        mean = preprocessing.mean
        std = preprocessing.std
        self.dense = dense
        inputSize = preprocessing.inputSize
    }

    public init(detector: Detector) {
        self.init(model: detector.model, preprocessing: detector.preprocessing, dense: detector.entry.dense)
    }

    /// Logits [N] of pixels [N, 3, S, S] in [0, 1], through the defence.
    public func logits(_ x: Tensor) -> Tensor {
        logitsOf(defence.apply(x))
    }

    /// Logits through the defence as the attacker sees it (no defence unless `attackKnowsDefence`).
    func attackerLogits(_ x: Tensor) -> Tensor {
        guard attackKnowsDefence else { return logitsOf(x) }
        switch defence {
        case .none, .blur: return logitsOf(defence.apply(x))
        case .jpeg: return logitsOf(x + (defence.apply(x.detached()) - x).detached())
        }
    }

    func logitsOf(_ x: Tensor) -> Tensor {
        // A model on a GPU: the pixels go there (the attack's own arithmetic follows them; a no-op on the CPU).
        let d = model.device
        let m = Tensor(mean, shape: [1, 3, 1, 1]).to(device: d), s = Tensor(std, shape: [1, 3, 1, 1]).to(device: d)
        let out = model((x.to(device: d) - m) / s)
        return dense ? out.mean(axes: [1, 2, 3]) : out.reshaped([-1])
    }
}

/// Input transformations used as defences at inference.
public enum Defence: Sendable, Codable, Equatable, CustomStringConvertible {
    case none
    case blur(sigma: Double)
    case jpeg(quality: Int)

    public var description: String {
        switch self {
        case .none: return "none"
        case .blur(let s): return "blur:\(s.formatted())"
        case .jpeg(let q): return "jpeg:\(q)"
        }
    }

    /// Parses "none", "blur:SIGMA", "jpeg:QUALITY".
    public init?(_ text: String) {
        let p = text.split(separator: ":").map(String.init)
        switch (p.first, p.count) {
        case ("none", 1): self = .none
        case ("blur", 2): guard let s = Double(p[1]), s > 0 else { return nil }; self = .blur(sigma: s)
        case ("jpeg", 2): guard let q = Int(p[1]), (1...100).contains(q) else { return nil }; self = .jpeg(quality: q)
        default: return nil
        }
    }

    public func apply(_ x: Tensor) -> Tensor {
        switch self {
        case .none: return x
        case .blur(let s): return gaussianBlur(x, sigma: s)
        case .jpeg(let q):
            let n = x.size(0)
            let images = (0..<n).map { Image(tensor: x[$0].detached().clamped(min: 0, max: 1)) }
            let decoded = images.map { (try? ImageDecoder().decode(data: ImageEncoder.jpeg($0, quality: q)).image) ?? $0 }
            return stacked(decoded.map { $0.tensor() })
        }
    }
}

/// Adversarial attacks that push fakes towards "real" (they lower the logit).
public enum Attack: Sendable, Codable, Equatable, CustomStringConvertible {
    /// Fast gradient sign method (Goodfellow et al. 2015): one step of size eps along -sign(grad); L-inf <= eps.
    case fgsm(epsilon: Double)
    /// Projected gradient descent (Madry et al. 2018): `steps` signed steps of `stepSize`, projected on the
    /// L-inf ball of radius eps, from a uniform random start in the ball when `randomStart`.
    case pgd(epsilon: Double, steps: Int, stepSize: Double, randomStart: Bool)
    /// Carlini-Wagner L2 (2017): x' = (tanh(w) + 1) / 2, minimise ||x' - x||^2 + c * max(logit + kappa, 0) with
    /// Adam; the smallest successful x' over the steps is kept. Unbounded, so report its L2 size.
    case carliniWagner(c: Double, steps: Int, learningRate: Double, kappa: Double)

    public var description: String {
        switch self {
        case .fgsm(let e): return "fgsm:\(e.formatted())"
        case .pgd(let e, let n, let a, let r): return "pgd:\(e.formatted()):\(n):\(a.formatted())\(r ? "" : ":norandom")"
        case .carliniWagner(let c, let n, let lr, let k): return "cw:\(c.formatted()):\(n):\(lr.formatted()):\(k.formatted())"
        }
    }

    /// Parses "fgsm:EPS", "pgd:EPS[:STEPS[:STEP]]" (default 10 steps of eps/4, random start), "cw[:C[:STEPS[:LR[:KAPPA]]]]".
    public init?(_ text: String) {
        let p = text.split(separator: ":").map(String.init)
        func num(_ i: Int, _ d: Double) -> Double? { p.count > i ? Double(p[i]) : d }
        switch p.first {
        case "fgsm":
            guard p.count == 2, let e = Double(p[1]), e >= 0 else { return nil }
            self = .fgsm(epsilon: e)
        case "pgd":
            guard p.count >= 2, let e = Double(p[1]), e >= 0, let n = num(2, 10), let a = num(3, e / 4), n >= 1, a > 0 else { return nil }
            self = .pgd(epsilon: e, steps: Int(n), stepSize: a, randomStart: !(p.count > 4 && p[4] == "norandom"))
        case "cw":
            guard let c = num(1, 1), let n = num(2, 100), let lr = num(3, 0.01), let k = num(4, 0), c > 0, n >= 1, lr > 0 else { return nil }
            self = .carliniWagner(c: c, steps: Int(n), learningRate: lr, kappa: k)
        default: return nil
        }
    }

    /// The L-inf budget (nil for the unbounded CW attack).
    public var epsilon: Double? {
        switch self {
        case .fgsm(let e), .pgd(let e, _, _, _): return e
        case .carliniWagner: return nil
        }
    }

    /// Adversarial versions of `x` ([N, 3, S, S] in [0, 1]), in [0, 1]; random starts come from `generator`.
    public func perturb(_ x: Tensor, model: PixelModel, generator: Generator = Generator(seed: 0)) -> Tensor {
        let x = x.detached()
        func gradient(_ v: Tensor) -> Tensor {
            let leaf = v.detached().requiringGrad()
            return gradients(of: [model.attackerLogits(leaf).sum()], withRespectTo: [leaf])[0]
        }
        switch self {
        case .fgsm(let e):
            return (x - gradient(x).sign() * e).clamped(min: 0, max: 1).detached()
        case .pgd(let e, let steps, let a, let randomStart):
            var v = x
            if randomStart { v = (x + (generator.rand(x.shape) * 2 - 1) * e).clamped(min: 0, max: 1) }
            for _ in 0..<steps {
                let step = v - gradient(v).sign() * a
                // Project on the L-inf ball around x, then on the valid pixel range.
                v = x + (step - x).clamped(min: -e, max: e)
                v = v.clamped(min: 0, max: 1).detached()
            }
            return v
        case .carliniWagner(let c, let steps, let lr, let kappa):
            // w = atanh(2x - 1) = log((1 + y) / (1 - y)) / 2, so that x' starts at x.
            let y = x.clamped(min: 1e-6, max: 1 - 1e-6) * 2 - 1
            let w = (((y + 1) / ((y * -1) + 1)).log() * 0.5).detached().requiringGrad()
            let opt = Adam(parameters: [w], learningRate: lr)
            var best = x
            var bestDistance = [Float](repeating: .infinity, count: x.size(0))
            for _ in 0..<steps {
                let adv = (w.tanh() + 1) / 2
                let z = model.attackerLogits(adv)
                let distance = (adv - x).square().sum(axes: [1, 2, 3])
                let loss = distance.sum() + ((z + kappa).relu() * c).sum()
                opt.zeroGrad()
                loss.backward()
                opt.step()
                // Keep, per image, the closest x' that is already judged real.
                let zs = z.detached().toArray(Float.self), ds = distance.detached().toArray(Float.self)
                var improved = false
                var mask = [Float](repeating: 0, count: zs.count)
                for i in zs.indices where zs[i] < 0 && ds[i] < bestDistance[i] { bestDistance[i] = ds[i]; mask[i] = 1; improved = true }
                if improved {
                    let m = Tensor(mask, shape: [zs.count, 1, 1, 1])
                    best = (adv.detached() * m + best * ((m * -1) + 1)).detached()
                }
            }
            return best.clamped(min: 0, max: 1)
        }
    }
}
