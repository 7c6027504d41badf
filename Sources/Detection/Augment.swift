import Foundation
import Imaging
import ImagingTorch
import Torch

/// A small, splittable, seedable random generator (SplitMix64): per-sample streams make augmentation
/// reproducible whatever the number of loader threads.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    public mutating func uniform(_ lo: Double = 0, _ hi: Double = 1) -> Double {
        lo + (hi - lo) * Double(next() >> 11) / Double(1 << 53)
    }
    public mutating func chance(_ p: Double) -> Bool { p > 0 && uniform() < p }
}

/// Training augmentations, applied per sample with a seeded generator; the same to both classes.
public struct Augmentation: Sendable, Codable, Equatable {
    public var flipProbability = 0.5
    /// Random crop of `cropScale` x the shorter side (then resized to the input size); 1 = no crop.
    public var cropProbability = 0.0
    public var cropScale: ClosedRange<Double> = 0.6...1.0
    public var rotationProbability = 0.0
    public var rotationDegrees = 10.0
    public var blurProbability = 0.0
    public var blurSigma: ClosedRange<Double> = 0.1...2.0
    public var jpegProbability = 0.0
    public var jpegQuality: ClosedRange<Int> = 60...100
    public var resizeProbability = 0.0
    public var resizeScale: ClosedRange<Double> = 0.5...1.5
    public var colorJitterProbability = 0.0
    public var colorJitter = 0.2
    /// Downsize by a factor in `downsampleScale`, then back to the original size (loses detail, keeps the size).
    public var downsampleProbability = 0.0
    public var downsampleScale: ClosedRange<Double> = 0.25...1.0
    /// Additive Gaussian noise with sigma (0-255 scale) in `noiseSigma`.
    public var noiseProbability = 0.0
    public var noiseSigma: ClosedRange<Double> = 0...20
    /// Black out all but a random square whose side is `maskScale` x the shorter side (study 003's visible patch).
    public var maskProbability = 0.0
    public var maskScale: ClosedRange<Double> = 0.125...1.0

    public init() {}

    // Every field is optional when decoding, so configurations written before a field existed still load.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func v<T: Decodable>(_ k: CodingKeys, _ d: T) throws -> T { try c.decodeIfPresent(T.self, forKey: k) ?? d }
        let d = Augmentation()
        flipProbability = try v(.flipProbability, d.flipProbability)
        cropProbability = try v(.cropProbability, d.cropProbability); cropScale = try v(.cropScale, d.cropScale)
        rotationProbability = try v(.rotationProbability, d.rotationProbability); rotationDegrees = try v(.rotationDegrees, d.rotationDegrees)
        blurProbability = try v(.blurProbability, d.blurProbability); blurSigma = try v(.blurSigma, d.blurSigma)
        jpegProbability = try v(.jpegProbability, d.jpegProbability); jpegQuality = try v(.jpegQuality, d.jpegQuality)
        resizeProbability = try v(.resizeProbability, d.resizeProbability); resizeScale = try v(.resizeScale, d.resizeScale)
        colorJitterProbability = try v(.colorJitterProbability, d.colorJitterProbability); colorJitter = try v(.colorJitter, d.colorJitter)
        downsampleProbability = try v(.downsampleProbability, d.downsampleProbability); downsampleScale = try v(.downsampleScale, d.downsampleScale)
        noiseProbability = try v(.noiseProbability, d.noiseProbability); noiseSigma = try v(.noiseSigma, d.noiseSigma)
        maskProbability = try v(.maskProbability, d.maskProbability); maskScale = try v(.maskScale, d.maskScale)
    }

    /// No augmentation at all.
    public static let none: Augmentation = {
        var a = Augmentation()
        a.flipProbability = 0
        return a
    }()
    /// The studies' mix: flips, crops, small rotations, blur and JPEG re-compression (study 003).
    public static let standard: Augmentation = {
        var a = Augmentation()
        a.cropProbability = 0.5
        a.rotationProbability = 0.2
        a.blurProbability = 0.2
        a.jpegProbability = 0.3
        a.resizeProbability = 0.2
        a.colorJitterProbability = 0.2
        return a
    }()

    /// Image-level steps (geometry, re-compression), in a fixed order.
    public func apply(_ image: Image, rng: inout SplitMix64) -> Image {
        var im = image
        if rng.chance(resizeProbability) {
            let s = rng.uniform(resizeScale.lowerBound, resizeScale.upperBound)
            im = im.resized(width: max(8, Int(Double(im.width) * s)), height: max(8, Int(Double(im.height) * s)), filter: .bilinear)
        }
        if rng.chance(cropProbability) {
            let side = max(8, Int(Double(min(im.width, im.height)) * rng.uniform(cropScale.lowerBound, cropScale.upperBound)))
            let x = Int(rng.uniform(0, Double(im.width - side + 1)).rounded(.down)), y = Int(rng.uniform(0, Double(im.height - side + 1)).rounded(.down))
            im = im.cropped(x: min(x, im.width - side), y: min(y, im.height - side), width: side, height: side)
        }
        if rng.chance(flipProbability) { im = im.flippedHorizontally() }
        if rng.chance(rotationProbability) { im = im.rotated(degrees: rng.uniform(-rotationDegrees, rotationDegrees)) }
        if rng.chance(jpegProbability) {
            let q = Int(rng.uniform(Double(jpegQuality.lowerBound), Double(jpegQuality.upperBound) + 0.999))
            if let d = try? ImageDecoder().decode(data: ImageEncoder.jpeg(im, quality: min(max(q, 1), 100))) { im = d.image }
        }
        if rng.chance(downsampleProbability) {
            let f = rng.uniform(downsampleScale.lowerBound, downsampleScale.upperBound)
            if f < 1 {
                im = im.resized(width: max(1, Int(Double(im.width) * f)), height: max(1, Int(Double(im.height) * f)), filter: .area)
                    .resized(width: im.width, height: im.height, filter: .bilinear)
            }
        }
        if rng.chance(noiseProbability) { im = im.withGaussianNoise(sigma: rng.uniform(noiseSigma.lowerBound, noiseSigma.upperBound), rng: &rng) }
        if rng.chance(maskProbability) { im = im.masked(keepingSide: rng.uniform(maskScale.lowerBound, maskScale.upperBound), rng: &rng) }
        return im
    }

    /// Tensor-level steps on [3, H, W] in [0, 1]: Gaussian blur (LibTorch conv2d) and colour jitter.
    public func apply(_ t: Tensor, rng: inout SplitMix64) -> Tensor {
        var x = t
        if rng.chance(blurProbability) { x = gaussianBlur(x, sigma: rng.uniform(blurSigma.lowerBound, blurSigma.upperBound)) }
        if rng.chance(colorJitterProbability) {
            let b = rng.uniform(1 - colorJitter, 1 + colorJitter), c = rng.uniform(1 - colorJitter, 1 + colorJitter)
            let s = rng.uniform(1 - colorJitter, 1 + colorJitter)
            x = x * b
            let mean = x.mean()
            x = (x - mean) * c + mean
            let grey = x.mean(axes: [0], keepDims: true)
            x = ((x - grey) * s + grey).clamped(min: 0, max: 1)
        }
        return x
    }
}

/// Separable Gaussian blur of [C, H, W] (or [N, C, H, W]) with reflect padding, via depthwise conv2d.
public func gaussianBlur(_ t: Tensor, sigma: Double) -> Tensor {
    guard sigma > 0 else { return t }
    let radius = max(1, Int((3 * sigma).rounded(.up)))
    var k = (-radius...radius).map { Foundation.exp(-Double($0 * $0) / (2 * sigma * sigma)) }
    let total = k.reduce(0, +)
    k = k.map { $0 / total }
    let x = t.rank == 3 ? t.unsqueezed(axis: 0) : t
    let c = x.size(1), n = k.count
    let kf = k.map { Float($0) }
    let horizontal = Tensor(kf, shape: [1, 1, 1, n]).repeated([c, 1, 1, 1])
    let vertical = Tensor(kf, shape: [1, 1, n, 1]).repeated([c, 1, 1, 1])
    let mode: Tensor.PadMode = x.size(2) > radius && x.size(3) > radius ? .reflect : .replicate
    var y = conv2d(x.padded([radius, radius, 0, 0], mode: mode), weight: horizontal, groups: c)
    y = conv2d(y.padded([0, 0, radius, radius], mode: mode), weight: vertical, groups: c)
    return t.rank == 3 ? y.squeezed(axis: 0) : y
}

extension Image {
    /// Black everywhere except a square of side `fraction` x the shorter side at a random place (study 003's
    /// "visible patch"); fraction >= 1 returns the image unchanged.
    public func masked(keepingSide fraction: Double, rng: inout SplitMix64) -> Image {
        guard fraction < 1 else { return self }
        let side = max(1, Int(Double(min(width, height)) * fraction))
        let x0 = Int(rng.next() % UInt64(width - side + 1)), y0 = Int(rng.next() % UInt64(height - side + 1))
        var out = [UInt8](repeating: 0, count: pixels.count)
        for y in y0..<(y0 + side) {
            let row = (y * width + x0) * 3
            out.replaceSubrange(row..<(row + side * 3), with: pixels[row..<(row + side * 3)])
        }
        return Image(width: width, height: height, pixels: out)
    }

    /// Additive Gaussian noise (sigma on the 0-255 scale, Box-Muller from `rng`), clipped to 0...255.
    public func withGaussianNoise(sigma: Double, rng: inout SplitMix64) -> Image {
        guard sigma > 0 else { return self }
        var out = pixels
        var i = 0
        while i < out.count {
            let u1 = max(rng.uniform(), 1e-12), u2 = rng.uniform()
            let r = (-2 * Foundation.log(u1)).squareRoot() * sigma
            let z = [r * Foundation.cos(2 * .pi * u2), r * Foundation.sin(2 * .pi * u2)]
            for k in 0..<2 where i + k < out.count { out[i + k] = UInt8(min(255, max(0, (Double(out[i + k]) + z[k]).rounded()))) }
            i += 2
        }
        return Image(width: width, height: height, pixels: out)
    }

    /// Rotation about the centre by `degrees` (counter-clockwise), same size, bilinear, edges replicated.
    public func rotated(degrees: Double) -> Image {
        let a = degrees * Double.pi / 180, ca = Foundation.cos(a), sa = Foundation.sin(a)
        let cx = Double(width - 1) / 2, cy = Double(height - 1) / 2
        var out = [UInt8](repeating: 0, count: pixels.count)
        let w = width, h = height, maxX = Double(width - 1), maxY = Double(height - 1)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { out in
                for y in 0..<h {
                    let dy = Double(y) - cy
                    for x in 0..<w {
                        let dx = Double(x) - cx
                        let sx = min(max(ca * dx - sa * dy + cx, 0), maxX)
                        let sy = min(max(sa * dx + ca * dy + cy, 0), maxY)
                        let x0 = Int(sx), y0 = Int(sy), x1 = min(x0 + 1, w - 1), y1 = min(y0 + 1, h - 1)
                        let fx = sx - Double(x0), fy = sy - Double(y0)
                        let w00 = (1 - fx) * (1 - fy), w10 = fx * (1 - fy), w01 = (1 - fx) * fy, w11 = fx * fy
                        let p00 = (y0 * w + x0) * 3, p10 = (y0 * w + x1) * 3, p01 = (y1 * w + x0) * 3, p11 = (y1 * w + x1) * 3
                        let o = (y * w + x) * 3
                        for ch in 0..<3 {
                            let v = Double(src[p00 + ch]) * w00 + Double(src[p10 + ch]) * w10
                                + Double(src[p01 + ch]) * w01 + Double(src[p11 + ch]) * w11
                            out[o + ch] = UInt8(min(max(v, 0), 255) + 0.5)
                        }
                    }
                }
            }
        }
        return Image(width: width, height: height, pixels: out)
    }
}
