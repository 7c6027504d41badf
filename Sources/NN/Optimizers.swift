import Foundation
import Torch

/// An optimiser updates parameters from their `.grad` (PyTorch's update rules, step for step).
public protocol Optimizer: AnyObject {
    var learningRate: Double { get set }
    /// Applies one update to every parameter that has a gradient.
    func step()
    /// Clears the gradients of the optimised parameters.
    func zeroGrad()
    /// Optimiser state as named tensors (for checkpoints / resume).
    func stateDict() -> [String: Tensor]
    func loadStateDict(_ d: [String: Tensor]) throws
}

/// Stochastic gradient descent with momentum, dampening, Nesterov and (L2) weight decay (torch.optim.SGD).
public final class SGD: Optimizer {
    public let parameters: [Tensor]
    public var learningRate: Double
    public let momentum: Double, dampening: Double, weightDecay: Double, nesterov: Bool
    private var buffers: [Tensor?]

    public init(parameters: [Tensor], learningRate: Double, momentum: Double = 0, dampening: Double = 0,
                weightDecay: Double = 0, nesterov: Bool = false) {
        precondition(!nesterov || (momentum > 0 && dampening == 0), "SGD: Nesterov needs momentum > 0 and no dampening")
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.dampening = dampening
        self.weightDecay = weightDecay
        self.nesterov = nesterov
        buffers = Array(repeating: nil, count: parameters.count)
    }

    public func step() {
        withNoGrad {
            for (i, p) in parameters.enumerated() {
                guard var d = p.grad else { continue }
                if weightDecay != 0 { d = d + p * weightDecay }
                if momentum != 0 {
                    let buf: Tensor
                    if let b = buffers[i] {
                        b.mul_(momentum)
                        b.add_(d, alpha: 1 - dampening)
                        buf = b
                    } else {
                        buf = d.cloned().detached()
                        buffers[i] = buf
                    }
                    d = nesterov ? d + buf * momentum : buf
                }
                p.add_(d, alpha: -learningRate)
            }
        }
    }
    public func zeroGrad() { for p in parameters { p.grad = nil } }
    public func stateDict() -> [String: Tensor] {
        var d: [String: Tensor] = [:]
        for (i, b) in buffers.enumerated() { if let b { d["momentum_buffer.\(i)"] = b } }
        return d
    }
    public func loadStateDict(_ d: [String: Tensor]) throws {
        for i in parameters.indices { buffers[i] = d["momentum_buffer.\(i)"]?.to(device: parameters[i].device).cloned() }
    }
}

/// Adam and AdamW (decoupled weight decay), as torch.optim.Adam / AdamW.
public final class Adam: Optimizer {
    public let parameters: [Tensor]
    public var learningRate: Double
    public let beta1: Double, beta2: Double, eps: Double, weightDecay: Double, decoupled: Bool
    public private(set) var stepCount = 0
    private var m: [Tensor?], v: [Tensor?]

    /// - Parameter decoupled: true for AdamW (p -= lr * wd * p before the Adam step).
    public init(parameters: [Tensor], learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999,
                eps: Double = 1e-8, weightDecay: Double = 0, decoupled: Bool = false) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        self.decoupled = decoupled
        m = Array(repeating: nil, count: parameters.count)
        v = Array(repeating: nil, count: parameters.count)
    }

    public func step() {
        stepCount += 1
        let bc1 = 1 - Foundation.pow(beta1, Double(stepCount))
        let bc2 = 1 - Foundation.pow(beta2, Double(stepCount))
        withNoGrad {
            for (i, p) in parameters.enumerated() {
                guard var g = p.grad else { continue }
                if weightDecay != 0 {
                    if decoupled { p.mul_(1 - learningRate * weightDecay) } else { g = g + p * weightDecay }
                }
                let mi = m[i] ?? p.zerosLike().detached()
                let vi = v[i] ?? p.zerosLike().detached()
                m[i] = mi
                v[i] = vi
                mi.lerp_(g, weight: 1 - beta1)
                vi.mul_(beta2)
                vi.addcmul_(g, g, value: 1 - beta2)
                let denom = vi.sqrt() / bc2.squareRoot() + eps
                p.addcdiv_(mi, denom, value: -learningRate / bc1)
            }
        }
    }
    public func zeroGrad() { for p in parameters { p.grad = nil } }
    public func stateDict() -> [String: Tensor] {
        var d: [String: Tensor] = ["step": Tensor(scalar: Int64(stepCount))]
        for i in parameters.indices {
            if let a = m[i] { d["exp_avg.\(i)"] = a }
            if let b = v[i] { d["exp_avg_sq.\(i)"] = b }
        }
        return d
    }
    public func loadStateDict(_ d: [String: Tensor]) throws {
        stepCount = d["step"].map { $0.itemInt() } ?? 0
        for i in parameters.indices {
            m[i] = d["exp_avg.\(i)"]?.to(device: parameters[i].device).cloned()
            v[i] = d["exp_avg_sq.\(i)"]?.to(device: parameters[i].device).cloned()
        }
    }
}

/// AdamW: Adam with decoupled weight decay (default 0.01, as PyTorch).
public func AdamW(parameters: [Tensor], learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999,
                  eps: Double = 1e-8, weightDecay: Double = 0.01) -> Adam {
    Adam(parameters: parameters, learningRate: learningRate, beta1: beta1, beta2: beta2, eps: eps,
         weightDecay: weightDecay, decoupled: true)
}

/// Scales gradients so their global L2 norm is at most `maxNorm`; returns the norm before clipping.
@discardableResult
public func clipGradNorm(_ parameters: [Tensor], maxNorm: Double) -> Double {
    withNoGrad {
        let grads = parameters.compactMap { $0.grad }
        guard !grads.isEmpty else { return 0 }
        let total = stacked(grads.map { $0.norm() }).norm().item()
        let coef = maxNorm / (total + 1e-6)
        if coef < 1 { for g in grads { g.mul_(coef) } }
        return total
    }
}

/// Learning-rate schedules as functions of the epoch (or step) index.
public enum LRSchedule: Sendable {
    case constant
    /// Multiply by `gamma` every `stepSize` epochs (StepLR).
    case step(stepSize: Int, gamma: Double)
    /// Cosine annealing from the base rate to `minimum` over `total` epochs (CosineAnnealingLR).
    case cosine(total: Int, minimum: Double)
    /// Linear warm-up over `warmup` epochs from `startFactor`, then cosine to `minimum` at `total`.
    case warmupCosine(warmup: Int, total: Int, startFactor: Double, minimum: Double)

    /// The rate at `epoch` for base rate `base`.
    public func rate(base: Double, epoch: Int) -> Double {
        switch self {
        case .constant:
            return base
        case .step(let size, let gamma):
            return base * Foundation.pow(gamma, Double(epoch / max(size, 1)))
        case .cosine(let total, let minimum):
            let t = Double(min(epoch, total)) / Double(max(total, 1))
            return minimum + (base - minimum) * (1 + Foundation.cos(Double.pi * t)) / 2
        case .warmupCosine(let warmup, let total, let start, let minimum):
            if epoch < warmup {
                let f = start + (1 - start) * Double(epoch) / Double(max(warmup, 1))
                return base * f
            }
            let t = Double(min(epoch - warmup, total - warmup)) / Double(max(total - warmup, 1))
            return minimum + (base - minimum) * (1 + Foundation.cos(Double.pi * t)) / 2
        }
    }
}
