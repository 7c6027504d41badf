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
    /// Share of the non-pristine images that get a region of another *real* image instead of a fake one (mask empty:
    /// "pasted" alone must not be what a localiser learns). Their shape is recorded as `real-<shape>`.
    public var realPasteFraction = 0.0
    /// Each image is saved after a JPEG round trip at a quality drawn from this range (nil: none), as images are
    /// shared after editing; pristine and real-pasted images too, so compression tells nothing.
    public var jpegQuality: ClosedRange<Int>?
    /// Take `size` x `size` crops at the images' own resolution (smaller images are resized up) instead of resizing
    /// the whole image down: resizing erases the pixel-level traces of generators.
    public var nativeResolution = false
    public var seed: UInt64 = 0
    public var log: (String) -> Void = { _ in }
    public init() {}

    public struct Item: Sendable, Codable, Equatable {
        public var image: String, mask: String
        public var shape: String
        public var area: Double
        public var split: String
        public var real: String, fake: String
        /// No AI region: left pristine, or with a region of another real image pasted in.
        public var isPristine: Bool { shape == "none" || shape.hasPrefix("real-") }
    }

    /// A `size` square of `image`: the centre square resized, or with `nativeResolution` a random crop at the
    /// image's own scale (images smaller than `size` are resized up).
    func square(_ image: Image, rng: inout SplitMix64) -> Image {
        guard nativeResolution, min(image.width, image.height) >= size else {
            return image.centerSquare().resized(width: size, height: size, filter: .area)
        }
        let x = Int(rng.next() % UInt64(image.width - size + 1)), y = Int(rng.next() % UInt64(image.height - size + 1))
        return image.cropped(x: x, y: y, width: size, height: size)
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
        // Every source image, real or pasted, belongs to one split (by its id), and a donor comes from its host's
        // split: no image sits on both sides.
        let splits = ["train", "train", "train", "train", "train", "train", "train", "validation", "test", "test"]
        func splitOf(_ s: Sample) -> String { splits[Int(stableHash(s.id, seed &+ 3) % 10)] }
        let fakesBySplit = Dictionary(grouping: orderedFakes, by: splitOf), realsBySplit = Dictionary(grouping: orderedReals, by: splitOf)
        var next: [String: Int] = [:]   // the next donor of each pool ("real:SPLIT", "fake:SPLIT")
        var items: [Item] = []
        var r = 0
        while items.count < count && r < orderedReals.count * 2 {
            let i = items.count
            let realSample = orderedReals[r % orderedReals.count]
            r += 1
            guard let real = try? reader.image(realSample) else { continue }
            let base = square(real, rng: &rng)
            let split = splitOf(realSample)
            let name = String(format: "%06d.png", i)
            var item = Item(image: "images/\(name)", mask: "masks/\(name)", shape: "none", area: 0, split: split, real: realSample.id, fake: "")
            var out = base
            var mask = [Float](repeating: 0, count: size * size)
            if !rng.chance(pristineFraction) {
                let realDonor = realPasteFraction > 0 && rng.chance(realPasteFraction)
                var fakeImage: Image?
                let pool = (realDonor ? realsBySplit[split] : fakesBySplit[split]) ?? []
                let key = (realDonor ? "real:" : "fake:") + split
                var tries = 0
                while fakeImage == nil && tries < min(pool.count, 8) {
                    let k = next[key, default: 0]
                    next[key] = k + 1
                    tries += 1
                    let s = pool[k % pool.count]
                    if s.id != realSample.id, let im = try? reader.image(s) { fakeImage = im; item.fake = s.id }
                }
                guard let donor = fakeImage else { continue }
                let fake = square(donor, rng: &rng)
                let shape = Shape.allCases[Int(rng.next() % 3)]
                let target = rng.uniform(area.lowerBound, area.upperBound)
                mask = Self.mask(shape, size: size, area: target, rng: &rng)
                let alpha = feather > 0
                    ? gaussianBlur(Tensor(mask, shape: [1, 1, size, size]), sigma: feather).reshaped([-1]).toArray(Float.self)
                    : mask
                out = Self.blend(base, fake, alpha: alpha)
                if realDonor {
                    // Real content pasted into a real image: no AI region, an empty mask.
                    item.shape = "real-" + shape.rawValue
                    mask = [Float](repeating: 0, count: size * size)
                } else {
                    item.shape = shape.rawValue
                    // Ground truth: where the blend is mostly fake.
                    mask = alpha.map { $0 >= 0.5 ? 1 : 0 }
                    item.area = Double(mask.reduce(0, +)) / Double(mask.count)
                }
            }
            if let q = jpegQuality {
                let quality = q.lowerBound + Int(rng.next() % UInt64(q.upperBound - q.lowerBound + 1))
                if let again = try? ImageDecoder().decode(data: ImageEncoder.jpeg(out, quality: quality)).image { out = again }
            }
            try Data(ImageEncoder.png(out)).write(to: URL(fileURLWithPath: "\(output)/\(item.image)"))
            try Data(ImageEncoder.png(Self.maskImage(mask, size: size))).write(to: URL(fileURLWithPath: "\(output)/\(item.mask)"))
            items.append(item)
            if items.count % 200 == 0 { log("splice: \(items.count)/\(count)") }
        }
        if items.count < count {
            log("splice: \(items.count) of \(count) images: the reals ran out (each is used at most twice), or a split had no donor")
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
