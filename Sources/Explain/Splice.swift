import Detection
import Foundation
import Imaging
import ImagingTorch
import Torch

/// Partial manipulations for localisation (study 003, table 4.8): regions of fake images pasted into real
/// images with feathered edges, each saved with its ground-truth mask.
///
/// Layout under the output folder: `images/NNNNNN.png`, `masks/NNNNNN.png` (white = pasted), and
/// `manifest.csv` (image, mask, shape, area fraction, split, real and fake source ids). A share of pristine reals
/// (empty masks) measures false alarms.
public struct SpliceSetBuilder {
    public enum Shape: String, CaseIterable, Sendable, Codable {
        /// A rotated ellipse.
        case ellipse
        /// A rotated rectangle (a random crop of the fake, turned).
        case rectangle
        /// An object-like blob: a few overlapping Gaussians, thresholded.
        case blob
    }
    public var count = 1000
    /// Images are centre-cropped and resized to this square size.
    public var size = 256
    /// Share of images left pristine (empty mask).
    public var pristineFraction = 0.2
    /// Target area fractions of the pasted region are drawn uniformly from this range.
    public var area: ClosedRange<Double> = 0.02...0.5
    /// Edge feathering: sigma (pixels) of the blur applied to the mask before blending.
    public var feather = 2.0
    public var seed: UInt64 = 0
    public var log: (String) -> Void = { _ in }
    public init() {}

    public struct Item: Sendable, Codable, Equatable {
        public var image: String, mask: String
        public var shape: String
        public var area: Double
        public var split: String
        public var real: String, fake: String
    }

    /// Writes the set from `reals` and `fakes` (decodable samples); returns its items (also in manifest.csv).
    public func write(reals: [Sample], fakes: [Sample], to output: String) throws -> [Item] {
        precondition(!reals.isEmpty && !fakes.isEmpty, "SpliceSetBuilder: needs reals and fakes")
        let fm = FileManager.default
        for d in ["images", "masks"] { try fm.createDirectory(atPath: "\(output)/\(d)", withIntermediateDirectories: true) }
        let reader = SampleReader()
        var rng = SplitMix64(seed: seed &+ 17)
        let orderedReals = reals.map { ($0, stableHash($0.id, seed)) }.sorted { $0.1 < $1.1 }.map(\.0)
        let orderedFakes = fakes.map { ($0, stableHash($0.id, seed &+ 1)) }.sorted { $0.1 < $1.1 }.map(\.0)
        var items: [Item] = []
        var r = 0, f = 0
        while items.count < count && r < orderedReals.count * 2 {
            let i = items.count
            let realSample = orderedReals[r % orderedReals.count]
            r += 1
            guard let real = try? reader.image(realSample) else { continue }
            let base = real.centerSquare().resized(width: size, height: size, filter: .area)
            let split = ["train", "train", "train", "train", "train", "train", "train", "validation", "test", "test"][Int(stableHash(realSample.id, seed &+ 3) % 10)]
            let name = String(format: "%06d.png", i)
            var item = Item(image: "images/\(name)", mask: "masks/\(name)", shape: "none", area: 0, split: split, real: realSample.id, fake: "")
            var out = base
            var mask = [Float](repeating: 0, count: size * size)
            if !rng.chance(pristineFraction) {
                var fakeImage: Image?
                while fakeImage == nil && f < orderedFakes.count * 2 {
                    let s = orderedFakes[f % orderedFakes.count]
                    f += 1
                    if let im = try? reader.image(s) { fakeImage = im; item.fake = s.id }
                }
                guard let fake = fakeImage?.centerSquare().resized(width: size, height: size, filter: .area) else { break }
                let shape = Shape.allCases[Int(rng.next() % 3)]
                let target = rng.uniform(area.lowerBound, area.upperBound)
                mask = Self.mask(shape, size: size, area: target, rng: &rng)
                let alpha = feather > 0
                    ? gaussianBlur(Tensor(mask, shape: [1, 1, size, size]), sigma: feather).reshaped([-1]).toArray(Float.self)
                    : mask
                out = Self.blend(base, fake, alpha: alpha)
                item.shape = shape.rawValue
                // Ground truth: where the blend is mostly fake.
                mask = alpha.map { $0 >= 0.5 ? 1 : 0 }
                item.area = Double(mask.reduce(0, +)) / Double(mask.count)
            }
            try Data(ImageEncoder.png(out)).write(to: URL(fileURLWithPath: "\(output)/\(item.image)"))
            try Data(ImageEncoder.png(Self.maskImage(mask, size: size))).write(to: URL(fileURLWithPath: "\(output)/\(item.mask)"))
            items.append(item)
            if items.count % 200 == 0 { log("splice: \(items.count)/\(count)") }
        }
        var csv = "image,mask,shape,area,split,real,fake\n"
        for it in items {
            csv += "\(it.image),\(it.mask),\(it.shape),\(String(format: "%.5f", it.area)),\(it.split),\(Dataset.csvField(it.real)),\(Dataset.csvField(it.fake))\n"
        }
        try csv.write(toFile: "\(output)/manifest.csv", atomically: true, encoding: .utf8)
        return items
    }

    /// A binary mask (1 inside) of about `area` x size^2 pixels.
    public static func mask(_ shape: Shape, size: Int, area: Double, rng: inout SplitMix64) -> [Float] {
        let n = Double(size)
        var m = [Float](repeating: 0, count: size * size)
        switch shape {
        case .ellipse, .rectangle:
            // Axes with a random aspect ratio whose product gives the area; centre kept so that most of it is inside.
            let aspect = rng.uniform(0.5, 2)
            let total = area * n * n
            let (a, b): (Double, Double) = shape == .ellipse
                ? ((total / .pi * aspect).squareRoot(), (total / .pi / aspect).squareRoot())
                : ((total * aspect).squareRoot() / 2, (total / aspect).squareRoot() / 2)
            let theta = rng.uniform(0, .pi)
            let reach = max(a, b)
            let cx = rng.uniform(min(reach, n / 2), max(n - reach, n / 2)), cy = rng.uniform(min(reach, n / 2), max(n - reach, n / 2))
            let c = Foundation.cos(theta), s = Foundation.sin(theta)
            for y in 0..<size {
                for x in 0..<size {
                    let dx = Double(x) + 0.5 - cx, dy = Double(y) + 0.5 - cy
                    let u = (dx * c + dy * s) / a, v = (-dx * s + dy * c) / b
                    let inside = shape == .ellipse ? u * u + v * v <= 1 : abs(u) <= 1 && abs(v) <= 1
                    if inside { m[y * size + x] = 1 }
                }
            }
        case .blob:
            // Sum of 3-6 Gaussians near a common centre, thresholded at the level that gives the area.
            let k = 3 + Int(rng.next() % 4)
            let cx = rng.uniform(0.3, 0.7) * n, cy = rng.uniform(0.3, 0.7) * n
            let spread = (area * n * n).squareRoot()
            var field = [Double](repeating: 0, count: size * size)
            for _ in 0..<k {
                let gx = cx + rng.uniform(-0.5, 0.5) * spread, gy = cy + rng.uniform(-0.5, 0.5) * spread
                let sg = spread * rng.uniform(0.25, 0.5)
                for y in 0..<size {
                    for x in 0..<size {
                        let dx = Double(x) - gx, dy = Double(y) - gy
                        field[y * size + x] += Foundation.exp(-(dx * dx + dy * dy) / (2 * sg * sg))
                    }
                }
            }
            let want = max(1, min(size * size - 1, Int(area * n * n)))
            let threshold = field.sorted(by: >)[want - 1]
            for i in field.indices where field[i] >= threshold { m[i] = 1 }
        }
        return m
    }

    /// `fake` over `real` with per-pixel weight `alpha` (0...1).
    static func blend(_ real: Image, _ fake: Image, alpha: [Float]) -> Image {
        var px = real.pixels
        for i in 0..<(real.width * real.height) {
            let a = min(max(alpha[i], 0), 1)
            guard a > 0 else { continue }
            for c in 0..<3 {
                px[3 * i + c] = UInt8((Float(real.pixels[3 * i + c]) * (1 - a) + Float(fake.pixels[3 * i + c]) * a).rounded())
            }
        }
        return Image(width: real.width, height: real.height, pixels: px)
    }

    static func maskImage(_ m: [Float], size: Int) -> Image {
        var px = [UInt8](repeating: 0, count: size * size * 3)
        for i in m.indices where m[i] > 0.5 { px[3 * i] = 255; px[3 * i + 1] = 255; px[3 * i + 2] = 255 }
        return Image(width: size, height: size, pixels: px)
    }

    /// Reads a set written by `write`.
    public static func load(_ directory: String) throws -> [Item] {
        let text = try String(contentsOfFile: "\(directory)/manifest.csv", encoding: .utf8)
        return text.split(separator: "\n").dropFirst().compactMap { line -> Item? in
            let f = Dataset.csvFields(String(line))
            guard f.count >= 7, let area = Double(f[3]) else { return nil }
            return Item(image: f[0], mask: f[1], shape: f[2], area: area, split: f[4], real: f[5], fake: f[6])
        }
    }
}
