import Foundation
import Imaging

/// Why an image is outside what a detector can judge: a model still gives such an image a score (a blank grey
/// PNG scores 0.78 "AI" with the bundled model, 0.999 with the CLIP probe), but the score means nothing, so
/// the verdict becomes "uncertain" with this reason.
public enum OutOfScope: String, Sendable, Codable, CaseIterable {
    /// Blank or nearly blank: almost no variation in brightness.
    case tooLittleContent = "too-little-content"
    /// Neighbouring pixels uncorrelated, like random noise: no photo or generator output looks like this.
    case noiseLike = "noise-like"
    /// Mostly perfectly flat areas, like a screenshot, a chart or a text document: not the photographs and
    /// renderings the models learnt from.
    case flatGraphics = "flat-graphics"

    /// A sentence for people.
    public var reason: String {
        switch self {
        case .tooLittleContent: return "too little content: the image is blank or nearly blank, so no model can judge it"
        case .noiseLike: return "outside what the model knows: the image looks like random noise"
        case .flatGraphics: return "outside what the model knows: mostly flat areas, like a screenshot, chart or document"
        }
    }
}

/// Image statistics behind the out-of-scope rule, measured on the luminance of the image reduced (area filter)
/// to at most 256 px on its longer side (the flat share at up to 1,024 px).
public struct ContentStatistics: Sendable, Codable, Equatable {
    /// Standard deviation of the luminance (0-255).
    public var deviation: Double
    /// Mean correlation of horizontally and vertically adjacent pixels (about 0.9 or more for photos, near 0 for
    /// white noise; 1 when the image is constant).
    public var neighbourCorrelation: Double
    /// Share of 8x8 blocks whose luminance varies by at most 1 level (0-1), measured at up to 1,024 px.
    public var flatFraction: Double

    /// Measures `image`.
    public init(_ image: Image) {
        let side = 256
        let scale = min(1, Double(side) / Double(max(image.width, image.height)))
        let small = scale < 1
            ? image.resized(width: max(1, Int((Double(image.width) * scale).rounded())), height: max(1, Int((Double(image.height) * scale).rounded())), filter: .area)
            : image
        let w = small.width, h = small.height
        var y = [Double](repeating: 0, count: w * h)
        small.pixels.withUnsafeBufferPointer { p in
            for i in 0..<(w * h) { y[i] = 0.299 * Double(p[3 * i]) + 0.587 * Double(p[3 * i + 1]) + 0.114 * Double(p[3 * i + 2]) }
        }
        let mean = y.reduce(0, +) / Double(y.count)
        let variance = y.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(y.count)
        deviation = variance.squareRoot()
        // Pearson correlation over pairs (a, b) of neighbours, both directions pooled.
        var sa = 0.0, sb = 0.0, saa = 0.0, sbb = 0.0, sab = 0.0, n = 0.0
        func pair(_ a: Double, _ b: Double) { sa += a; sb += b; saa += a * a; sbb += b * b; sab += a * b; n += 1 }
        for r in 0..<h {
            for c in 0..<w {
                let v = y[r * w + c]
                if c + 1 < w { pair(v, y[r * w + c + 1]) }
                if r + 1 < h { pair(v, y[(r + 1) * w + c]) }
            }
        }
        if n > 0 {
            let cov = sab / n - (sa / n) * (sb / n)
            let va = saa / n - (sa / n) * (sa / n), vb = sbb / n - (sb / n) * (sb / n)
            neighbourCorrelation = va > 1e-9 && vb > 1e-9 ? cov / (va * vb).squareRoot() : 1
        } else {
            neighbourCorrelation = 1
        }
        // Flat blocks at up to 1,024 px: reducing further blends thin text and edges into most blocks.
        let fineScale = min(1, 1024 / Double(max(image.width, image.height)))
        let fine = fineScale < 1
            ? image.resized(width: max(1, Int((Double(image.width) * fineScale).rounded())), height: max(1, Int((Double(image.height) * fineScale).rounded())), filter: .area)
            : image
        let fw = fine.width, fh = fine.height
        var flat = 0, blocks = 0
        fine.pixels.withUnsafeBufferPointer { p in
            var by = 0
            while by + 8 <= fh {
                var bx = 0
                while bx + 8 <= fw {
                    var lo = Double.infinity, hi = -Double.infinity
                    for r in by..<(by + 8) {
                        for c in bx..<(bx + 8) {
                            let i = 3 * (r * fw + c)
                            let v = 0.299 * Double(p[i]) + 0.587 * Double(p[i + 1]) + 0.114 * Double(p[i + 2])
                            lo = min(lo, v); hi = max(hi, v)
                        }
                    }
                    if hi - lo <= 1 { flat += 1 }
                    blocks += 1
                    bx += 8
                }
                by += 8
            }
        }
        flatFraction = blocks > 0 ? Double(flat) / Double(blocks) : (deviation <= 1 ? 1 : 0)
    }

    public init(deviation: Double, neighbourCorrelation: Double, flatFraction: Double) {
        self.deviation = deviation
        self.neighbourCorrelation = neighbourCorrelation
        self.flatFraction = flatFraction
    }
}

/// The rule that sends images outside what a detector can judge to "uncertain", with the reason.
///
/// The thresholds are fitted on natural images (`aidetect scope --data SETS` prints the statistics' quantiles on
/// bench256 and wild-train, real and fake, photos and art, and how many each threshold flags): each sits beyond
/// what those sets hold, so that the rule fires on blank, noise and screen-like images and on almost no photo,
/// rendering or painting.
public struct ContentCheck: Sendable, Codable, Equatable {
    // Fitted with `aidetect scope --data bench256.tar,wild-train.tar` (3,895 images: real and fake, photos and
    // art): deviation min 6.2, correlation min 0.31 (0.1% quantile 0.41), flat fraction max 0.77 (99.9% 0.59).
    // Each threshold sits beyond those extremes, so the rule flags none of them.
    /// Below this luminance deviation an image has too little content.
    public var minimumDeviation = 3.0
    /// Below this neighbour correlation an image is noise-like.
    public var minimumCorrelation = 0.15
    /// Above this share of flat blocks an image is flat graphics.
    public var maximumFlatFraction = 0.8

    public init() {}

    public static let standard = ContentCheck()

    /// The reason `statistics` is out of scope, or nil when a detector can judge the image.
    public func assess(_ statistics: ContentStatistics) -> OutOfScope? {
        if statistics.deviation < minimumDeviation { return .tooLittleContent }
        if statistics.neighbourCorrelation < minimumCorrelation { return .noiseLike }
        if statistics.flatFraction > maximumFlatFraction { return .flatGraphics }
        return nil
    }

    public func assess(_ image: Image) -> OutOfScope? { assess(ContentStatistics(image)) }

    /// The verdict for a probability, "uncertain" when the image is out of scope.
    public func verdict(probability: Double, outOfScope: OutOfScope?) -> Verdict {
        outOfScope == nil ? Verdict(probability: probability) : .uncertain
    }
}

/// How the out-of-scope rule meets a data set of natural images (`aidetect scope`): the statistics' quantiles and
/// how many images each reason flags, by label and content. On such sets the rule should flag almost nothing.
public struct ScopeSurvey: Sendable, Codable {
    public struct Quantiles: Sendable, Codable {
        public var p0: Double, p001: Double, p01: Double, p05: Double, p50: Double, p95: Double, p99: Double, p999: Double, p100: Double
        init(_ values: [Double]) {
            let v = values.sorted()
            func q(_ f: Double) -> Double { v.isEmpty ? .nan : v[min(v.count - 1, Int((Double(v.count - 1) * f).rounded()))] }
            p0 = q(0); p001 = q(0.001); p01 = q(0.01); p05 = q(0.05); p50 = q(0.5); p95 = q(0.95); p99 = q(0.99); p999 = q(0.999); p100 = q(1)
        }
    }
    public var images: Int
    public var unreadable: Int
    public var check: ContentCheck
    public var deviation: Quantiles
    public var neighbourCorrelation: Quantiles
    public var flatFraction: Quantiles
    /// Images flagged, by "<label>/<content>" and reason.
    public var flagged: [String: [String: Int]]
    /// Images by "<label>/<content>".
    public var strata: [String: Int]
    /// The flagged images' ids and reasons (at most 50).
    public var examples: [String]

    /// Measures every image of `dataset`.
    public static func run(_ dataset: Dataset, check: ContentCheck = .standard, progress: (Int) -> Void = { _ in }) -> ScopeSurvey {
        var dev: [Double] = [], cor: [Double] = [], flat: [Double] = []
        var flagged: [String: [String: Int]] = [:], strata: [String: Int] = [:], examples: [String] = []
        var unreadable = 0
        let reader = SampleReader()
        for (i, s) in dataset.samples.enumerated() {
            if i % 200 == 0 { progress(i) }
            guard let image = try? reader.image(s) else { unreadable += 1; continue }
            let st = ContentStatistics(image)
            dev.append(st.deviation); cor.append(st.neighbourCorrelation); flat.append(st.flatFraction)
            let stratum = "\(s.label == .fake ? "fake" : "real")/\(s.content ?? "unknown")"
            strata[stratum, default: 0] += 1
            if let why = check.assess(st) {
                flagged[stratum, default: [:]][why.rawValue, default: 0] += 1
                if examples.count < 50 { examples.append("\(s.id): \(why.rawValue)") }
            }
        }
        return ScopeSurvey(images: dev.count, unreadable: unreadable, check: check, deviation: Quantiles(dev),
                           neighbourCorrelation: Quantiles(cor), flatFraction: Quantiles(flat), flagged: flagged, strata: strata, examples: examples)
    }
}
