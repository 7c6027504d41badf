import Detection
import Foundation
import Models
import NN
import Torch

/// A Frechet distance between generated and real images in the feature space of our own frozen
/// EfficientNet-Lite0 (ImageNet weights, 1280-d pooled features of 224 px upsampled inputs). Same formula as
/// FID (Heusel et al. 2017) but another network, so its values are comparable only with each other.
public struct FrechetScorer {
    let backbone: EfficientNetLite
    let preprocessing = Preprocessing.efficientnetLite

    /// `weights`: the EfficientNet-Lite0 ImageNet checkpoint (scripts/fetch_pretrained.sh).
    public init(weights: String) throws {
        let m = EfficientNetLite(classes: 1000)
        let (missing, _) = try m.loadStateDict(try TorchCheckpoint.load(path: weights), strict: false)
        if !missing.isEmpty { throw CheckpointError.missingKeys(missing) }
        m.eval()
        backbone = m
    }

    /// Features of images in [-1, 1], [N, 3, S, S] -> [N, 1280] (float64).
    public func features(_ x: Tensor, batchSize: Int = 50) -> Tensor {
        let mean = Tensor(preprocessing.mean, shape: [1, 3, 1, 1]), std = Tensor(preprocessing.std, shape: [1, 3, 1, 1])
        var out: [Tensor] = []
        withNoGrad {
            for start in stride(from: 0, to: x.size(0), by: batchSize) {
                let b = x.slice(axis: 0, start: start, end: min(start + batchSize, x.size(0)))
                let up = interpolate((b + 1) / 2, size: (preprocessing.inputSize, preprocessing.inputSize), mode: .bilinear)
                out.append(backbone.embedding((up - mean) / std).to(.float64))
            }
        }
        return concatenated(out, axis: 0)
    }

    /// ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1^1/2 S2 S1^1/2)^1/2), by symmetric eigendecompositions.
    public static func distance(_ a: Tensor, _ b: Tensor) -> Double {
        func stats(_ f: Tensor) -> (Tensor, Tensor) {
            let mu = f.mean(axes: [0])
            let c = f - mu
            return (mu, c.transposed(0, 1).matmul(c) / Double(max(f.size(0) - 1, 1)))
        }
        let (m1, s1) = stats(a.to(.float64)), (m2, s2) = stats(b.to(.float64))
        let (l1, v1) = s1.symmetricEigen()
        let root1 = v1.matmul(l1.clamped(min: 0).sqrt().unsqueezed(axis: 1) * v1.transposed(0, 1))
        let inner = root1.matmul(s2).matmul(root1)
        let sym = (inner + inner.transposed(0, 1)) / 2
        let traceRoot = sym.symmetricEigen().values.clamped(min: 0).sqrt().sum().item()
        let diff = (m1 - m2).square().sum().item()
        return diff + s1.diagonalSum() + s2.diagonalSum() - 2 * traceRoot
    }
}

extension Tensor {
    /// The trace of a square matrix.
    func diagonalSum() -> Double {
        let n = size(0)
        return reshaped([-1]).asStrided(shape: [n], strides: [n + 1]).sum().item()
    }
}
