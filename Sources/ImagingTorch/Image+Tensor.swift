import Imaging
import Torch

extension Image {
    /// The pixels as a float32 tensor [3, H, W] (CHW) in [0, 1].
    public func tensor() -> Tensor {
        // [H, W, 3] uint8 -> [3, H, W] float / 255
        let hwc = pixels.withUnsafeBytes { Tensor(bytes: $0, shape: [height, width, 3], dtype: .uint8) }
        return hwc.permuted(2, 0, 1).to(.float32) / 255
    }

    /// (tensor - mean) / std per channel, [3, H, W].
    public func normalizedTensor(mean: [Float], std: [Float]) -> Tensor {
        precondition(mean.count == 3 && std.count == 3, "normalizedTensor: mean and std need 3 values")
        let m = Tensor(mean, shape: [3, 1, 1]), s = Tensor(std, shape: [3, 1, 1])
        return (tensor() - m) / s
    }

    /// An image from a float tensor [3, H, W] or [1, 3, H, W] in [0, 1] (clamped, rounded).
    public init(tensor t: Tensor) {
        let chw = t.rank == 4 ? t[0] : t
        precondition(chw.rank == 3 && chw.size(0) == 3, "Image(tensor:) expects [3, H, W], got \(t.shape)")
        // [3, H, W] -> [H, W, 3] uint8
        let hwc = (chw.detached().clamped(min: 0, max: 1) * 255).rounded().permuted(1, 2, 0).to(.uint8)
        self.init(width: chw.size(2), height: chw.size(1), pixels: hwc.toArray(UInt8.self))
    }
}

/// Stacks same-sized images into [N, 3, H, W] float32, normalised.
public func batchTensor(_ images: [Image], mean: [Float], std: [Float]) -> Tensor {
    precondition(!images.isEmpty, "batchTensor: no images")
    return stacked(images.map { $0.normalizedTensor(mean: mean, std: std) })
}
