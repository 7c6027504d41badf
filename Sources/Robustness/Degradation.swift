import Detection
import Foundation
import Imaging
import ImagingTorch
import Torch

/// Image degradations of study 003 (figs 4.4-4.10) and a few more, each with a severity level.
public enum DegradationKind: String, CaseIterable, Sendable, Codable {
    /// Gaussian blur; level = sigma in pixels.
    case blur
    /// JPEG re-compression; level = quality (100 = left as it is).
    case jpeg
    /// Only a square patch stays visible, the rest is black; level = the patch side as a fraction of the image's
    /// shorter side, placed at random.
    case patch
    /// Downsize by a factor, then back up to the original size; level = factor (1 = unchanged).
    case downsize
    /// Resize only (the model's own preprocessing brings it back); level = scale factor.
    case resize
    /// Random crop keeping this fraction of the shorter side.
    case crop
    /// Additive Gaussian noise; level = sigma on the 0-255 scale.
    case noise

    /// The levels of the curves, mildest first (the first is the identity).
    public var defaultLevels: [Double] {
        switch self {
        case .blur: return [0, 0.5, 1, 1.5, 2, 3]
        case .jpeg: return [100, 90, 75, 50, 30, 10]
        case .patch: return [1, 0.75, 0.5, 0.375, 0.25, 0.125]
        case .downsize: return [1, 0.75, 0.5, 0.375, 0.25]
        case .resize: return [1, 0.5, 0.75, 1.5, 2]
        case .crop: return [1, 0.9, 0.75, 0.5]
        case .noise: return [0, 2, 5, 10, 20]
        }
    }

    public var levelName: String {
        switch self {
        case .blur: return "sigma (px)"
        case .jpeg: return "JPEG quality"
        case .patch: return "visible patch side (fraction)"
        case .downsize: return "downsize factor"
        case .resize: return "scale"
        case .crop: return "crop side (fraction)"
        case .noise: return "noise sigma (0-255)"
        }
    }

    /// The augmentation that trains a model "with" this degradation: applied to half of the training images at
    /// a level drawn between the mildest and the harshest default level. Nil where `Augmentation` has no
    /// counterpart (patch, noise, crop use the image-level `apply` through `trainingDegradation`).
    public func augmentation() -> Augmentation {
        var a = Augmentation.none
        a.flipProbability = 0.5
        switch self {
        case .blur: a.blurProbability = 0.5; a.blurSigma = 0.1...3
        case .jpeg: a.jpegProbability = 0.5; a.jpegQuality = 10...100
        case .downsize: a.downsampleProbability = 0.5; a.downsampleScale = 0.25...1
        case .resize: a.resizeProbability = 0.5; a.resizeScale = 0.5...2
        case .crop: a.cropProbability = 0.5; a.cropScale = 0.5...1
        case .patch: a.maskProbability = 0.5; a.maskScale = 0.125...1
        case .noise: a.noiseProbability = 0.5; a.noiseSigma = 0...20
        }
        return a
    }
}

/// One degradation at one level.
public struct Degradation: Sendable, Codable, Equatable, CustomStringConvertible {
    public var kind: DegradationKind
    public var level: Double
    public init(_ kind: DegradationKind, _ level: Double) {
        self.kind = kind
        self.level = level
    }

    public var description: String { "\(kind.rawValue)=\(level.formatted())" }

    /// The degraded image; random choices (patch placement, crop, noise) come from `rng`.
    public func apply(_ image: Image, rng: inout SplitMix64) -> Image {
        let w = image.width, h = image.height
        switch kind {
        case .blur:
            guard level > 0 else { return image }
            return Image(tensor: gaussianBlur(image.tensor(), sigma: level).clamped(min: 0, max: 1))
        case .jpeg:
            // Level 100 stands for "not re-compressed" (the curve's reference point); below, one JPEG pass.
            guard level < 100 else { return image }
            let q = Int(level.rounded()).clampedTo(1, 100)
            return (try? ImageDecoder().decode(data: ImageEncoder.jpeg(image, quality: q)).image) ?? image
        case .patch:
            return image.masked(keepingSide: level, rng: &rng)
        case .downsize:
            guard level < 1 else { return image }
            let small = image.resized(width: max(1, Int(Double(w) * level)), height: max(1, Int(Double(h) * level)), filter: .area)
            return small.resized(width: w, height: h, filter: .bilinear)
        case .resize:
            guard level != 1 else { return image }
            return image.resized(width: max(1, Int(Double(w) * level)), height: max(1, Int(Double(h) * level)),
                                 filter: level < 1 ? .area : .bilinear)
        case .crop:
            guard level < 1 else { return image }
            let side = max(1, Int(Double(min(w, h)) * level))
            let x = Int(rng.next() % UInt64(w - side + 1)), y = Int(rng.next() % UInt64(h - side + 1))
            return image.cropped(x: x, y: y, width: side, height: side)
        case .noise:
            guard level > 0 else { return image }
            return image.withGaussianNoise(sigma: level, rng: &rng)
        }
    }
}

extension Int {
    func clampedTo(_ lo: Int, _ hi: Int) -> Int { Swift.min(Swift.max(self, lo), hi) }
}
