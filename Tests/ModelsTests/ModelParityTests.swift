import Foundation
import Testing
import TestSupport
@testable import Models
@testable import NN
@testable import Torch

/// Deterministic weights shared with scripts/make_fixtures.py (`seeded_fill`): sorted state-dict keys,
/// one generator seeded 0; running_var ~ U[0,1)+0.5, weights ~ N(0,1)/sqrt(fan_in), vectors ~ N(0,1)*0.1.
func seededFill(_ model: Module) {
    let g = Generator(seed: 0)
    let sd = model.stateDict()
    withNoGrad {
        for key in sd.keys.sorted() where !key.hasSuffix("num_batches_tracked") {
            let t = sd[key]!
            if key.hasSuffix("running_var") {
                t.copy_(g.rand(t.shape) + 0.5)
            } else if t.rank >= 2 {
                t.copy_(g.randn(t.shape) / Double(t.count / t.size(0)).squareRoot())
            } else {
                t.copy_(g.randn(t.shape) * 0.1)
            }
        }
    }
    model.eval()
}

/// Registry models reproduce their PyTorch reference implementations (torchvision, akamaster, timm layout,
/// the EfficientNet-Lite port) on the same weights and input.
struct ModelParityTests {
    static let fx = TestSupport.loadFixture("ModelsTests", "models.safetensors")
    static var names: [String] { Set(fx.keys.map { String($0.split(separator: "/")[0]) }).sorted() }

    @Test("forward matches the PyTorch reference", arguments: ModelParityTests.names)
    func parity(_ name: String) throws {
        let model = try ModelRegistry.create(name)
        seededFill(model)
        let y = withNoGrad { model(Self.fx["\(name)/in"]!) }
        let c = TestSupport.allClose(y, Self.fx["\(name)/out"]!, rtol: 1e-3, atol: 1e-4)
        #expect(c.ok, "\(name): \(c.message)")
    }

    @Test func fixturesCoverTheMainFamilies() {
        for n in ["resnet18", "resnet50", "resnext50_32x4d", "resnext101_32x8d", "swin_tiny_patch4_window7_224", "fcn_resnet50", "resnet20", "vit_tiny_patch4_32", "lenet_baseline", "efficientnet_lite0"] {
            #expect(Self.names.contains(n), "no parity fixture for \(n)")
        }
    }

    /// Swin-T against timm's implementation beyond the single logit: the pooled 768-d features of the same input.
    @Test func swinFeaturesMatchTimm() throws {
        let model = try #require(try ModelRegistry.create("swin_tiny_patch4_window7_224") as? SwinTransformer)
        seededFill(model)
        let f = withNoGrad { model.features(Self.fx["swin_tiny_patch4_window7_224/in"]!).mean(axes: [1, 2]) }
        let expected = try #require(Self.fx["swin_tiny_patch4_window7_224/features"])
        #expect(f.shape == [1, 768])
        let c = TestSupport.allClose(f, expected, rtol: 1e-3, atol: 1e-4)
        #expect(c.ok, "\(c.message)")
    }
}
