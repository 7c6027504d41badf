import Foundation
import Torch

/// Weight initialisers with PyTorch's formulas (torch.nn.init). They write in place without autograd.
public enum Init {
    /// (fan_in, fan_out) of a weight shaped [out, in, k...] as PyTorch computes them.
    public static func fans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
        precondition(shape.count >= 2, "Init.fans: needs at least 2 dimensions, got \(shape)")
        let receptive = shape.dropFirst(2).reduce(1, *)
        return (shape[1] * receptive, shape[0] * receptive)
    }
    public static func uniform_(_ t: Tensor, _ lo: Double, _ hi: Double) {
        withNoGrad { if let g = Generator.current { g.uniform_(t, lo, hi) } else { t.uniform_(lo, hi) } }
    }
    public static func normal_(_ t: Tensor, mean: Double = 0, std: Double = 1) {
        withNoGrad { if let g = Generator.current { g.normal_(t, mean: mean, std: std) } else { t.normal_(mean: mean, std: std) } }
    }
    public static func constant_(_ t: Tensor, _ v: Double) { withNoGrad { t.fill_(v) } }
    /// kaiming_uniform_ with leaky-ReLU slope `a` (PyTorch's Linear/Conv default uses a = sqrt(5)).
    public static func kaimingUniform_(_ t: Tensor, a: Double = 0, fanOut: Bool = false) {
        let f = fans(t.shape)
        let gain = (2.0 / (1 + a * a)).squareRoot()
        let bound = (3.0).squareRoot() * gain / Double(fanOut ? f.fanOut : f.fanIn).squareRoot()
        uniform_(t, -bound, bound)
    }
    /// kaiming_normal_ for ReLU (torchvision ResNets use mode fan_out).
    public static func kaimingNormal_(_ t: Tensor, fanOut: Bool = false) {
        let f = fans(t.shape)
        normal_(t, std: (2.0 / Double(fanOut ? f.fanOut : f.fanIn)).squareRoot())
    }
    public static func xavierUniform_(_ t: Tensor, gain: Double = 1) {
        let f = fans(t.shape)
        let bound = gain * (6.0 / Double(f.fanIn + f.fanOut)).squareRoot()
        uniform_(t, -bound, bound)
    }
    /// Normal(0, std) limited to the absolute range [a, b], as timm's `trunc_normal_` is called for ViTs
    /// (values outside are clamped rather than redrawn; with std 0.02 and [-2, 2] none are).
    public static func truncNormal_(_ t: Tensor, std: Double = 0.02, a: Double = -2, b: Double = 2) {
        normal_(t, mean: 0, std: std)
        withNoGrad { t.clamp_(min: a, max: b) }
    }
}
