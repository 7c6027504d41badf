import Foundation
import Testing
import TestSupport
@testable import NN
@testable import Torch

struct OptimizerTests {
    static let fx = TestSupport.loadFixture("NNTests", "layers.safetensors")

    static func run(_ name: String, _ make: ([Tensor]) -> Optimizer) -> Tensor {
        let p = fx["opt/p0"]!.cloned().detached().requiringGrad()
        let target = fx["opt/target"]!
        let scale = Tensor.arange(1, 7, dtype: .float32)
        let opt = make([p])
        for _ in 0..<7 {
            opt.zeroGrad()
            ((p - target).pow(2) * scale).sum().backward()
            opt.step()
        }
        return p.detached()
    }

    @Test("optimisers match torch.optim step for step", arguments: ["sgd", "sgd_momentum", "sgd_nesterov", "adam", "adamw"])
    func parity(_ name: String) {
        let result: Tensor
        switch name {
        case "sgd": result = Self.run(name) { SGD(parameters: $0, learningRate: 0.1) }
        case "sgd_momentum":
            result = Self.run(name) { SGD(parameters: $0, learningRate: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 0.01) }
        case "sgd_nesterov":
            result = Self.run(name) { SGD(parameters: $0, learningRate: 0.05, momentum: 0.9, weightDecay: 0.01, nesterov: true) }
        case "adam": result = Self.run(name) { Adam(parameters: $0, learningRate: 0.05, weightDecay: 0.1) }
        default: result = Self.run(name) { AdamW(parameters: $0, learningRate: 0.05, weightDecay: 0.1) }
        }
        let c = TestSupport.allClose(result, Self.fx["opt/\(name)"]!, rtol: 1e-5, atol: 1e-5)
        #expect(c.ok, "\(name): \(c.message)")
    }

    @Test func optimizerStateRoundTrip() throws {
        let p1 = Tensor.ones([3]).requiringGrad(), p2 = Tensor.ones([3]).requiringGrad()
        let a = Adam(parameters: [p1], learningRate: 0.1), b = Adam(parameters: [p2], learningRate: 0.1)
        for _ in 0..<3 {
            a.zeroGrad(); (p1 * p1).sum().backward(); a.step()
        }
        withNoGrad { p2.copy_(p1) }
        try b.loadStateDict(a.stateDict())
        a.zeroGrad(); (p1 * p1).sum().backward(); a.step()
        b.zeroGrad(); (p2 * p2).sum().backward(); b.step()
        #expect(p1.toArray(Float.self) == p2.toArray(Float.self))
    }

    @Test func clipGradNormMatchesPyTorch() {
        let p = Self.fx["opt/p0"]!.cloned().detached().requiringGrad()
        (p - Self.fx["opt/target"]!).pow(2).sum().backward()
        let norm = clipGradNorm([p], maxNorm: 0.5)
        #expect(abs(norm - Self.fx["clip/norm"]!.item()) < 1e-4)
        #expect(TestSupport.allClose(p.grad!, Self.fx["clip/grad"]!).ok)
    }

    @Test func schedules() {
        #expect(LRSchedule.step(stepSize: 2, gamma: 0.5).rate(base: 1, epoch: 5) == 0.25)
        #expect(abs(LRSchedule.cosine(total: 10, minimum: 0).rate(base: 1, epoch: 5) - 0.5) < 1e-12)
        #expect(LRSchedule.cosine(total: 10, minimum: 0.1).rate(base: 1, epoch: 10) == 0.1)
        let w = LRSchedule.warmupCosine(warmup: 4, total: 14, startFactor: 0.2, minimum: 0)
        #expect(abs(w.rate(base: 1, epoch: 0) - 0.2) < 1e-12)
        #expect(abs(w.rate(base: 1, epoch: 2) - 0.6) < 1e-12)
        #expect(abs(w.rate(base: 1, epoch: 4) - 1) < 1e-12)
        #expect(w.rate(base: 1, epoch: 14) < 1e-12)
    }

    /// A tiny CNN learns a linearly separable toy set: bright-left vs bright-right 8x8 images.
    @Test func trainingSmokeTest() {
        Runtime.manualSeed(0)
        let n = 64
        let noise = Tensor.rand([n, 1, 8, 8]) * 0.5
        let labels = Tensor.arange(0, Double(n)).remainder(2).to(.float32)     // 0,1,0,1...
        let leftMask = concatenated([Tensor.ones([1, 1, 8, 4]), Tensor.zeros([1, 1, 8, 4])], axis: 3)
        let rightMask = leftMask.flipped([3])
        let lab = labels.reshaped([n, 1, 1, 1])
        let x = noise + lab * leftMask + (1.0 - lab) * rightMask
        let model = Sequential(Conv2d(inputChannels: 1, outputChannels: 4, kernelSize: 3, padding: 1), ReLU(),
                               AdaptiveAvgPool2d(outputSize: 2), Flatten(), Linear(inputFeatures: 16, outputFeatures: 1))
        let opt = Adam(parameters: model.parameters(), learningRate: 0.05)
        var first = 0.0, last = 0.0
        for step in 0..<60 {
            opt.zeroGrad()
            let loss = binaryCrossEntropyWithLogits(model(x).reshaped([n]), targets: labels)
            loss.backward()
            opt.step()
            if step == 0 { first = loss.item() }
            last = loss.item()
        }
        model.eval()
        let predictions = withNoGrad { model(x).reshaped([n]).gt(0).to(.float32) }
        let accuracy = predictions.eq(labels).to(.float32).mean().item()
        #expect(last < first * 0.2, "loss \(first) -> \(last)")
        #expect(accuracy == 1, "accuracy \(accuracy)")
    }
}
