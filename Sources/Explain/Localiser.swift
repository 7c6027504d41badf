import Detection
import Foundation
import Imaging
import Models
import Torch

/// What a localiser found in one image: the image-level decision ("contains an AI region", from a statistic of the
/// map and a threshold fitted on validation so that pristine images stay clean), the regions as boxes with scores
/// (in the image's own pixels), and the per-pixel map behind them.
public struct LocalisationResult: Sendable, Codable, Equatable {
    public struct Region: Sendable, Codable, Equatable {
        public var x: Int, y: Int, width: Int, height: Int
        /// The region's mean probability (per-pixel models) or the box's score (box detector).
        public var score: Double
        public init(x: Int, y: Int, width: Int, height: Int, score: Double) {
            self.x = x; self.y = y; self.width = width; self.height = height; self.score = score
        }
    }
    /// The localiser's file name (or architecture).
    public var model: String
    /// The image-level score and the threshold it is compared with (`statistic` says what the score is).
    public var score: Double
    public var threshold: Double
    public var statistic: String
    public var containsAIRegion: Bool
    /// Regions (empty when the image does not contain an AI region at the fitted threshold), best first.
    public var regions: [Region]
    /// Share of the image's pixels in the mask.
    public var maskedFraction: Double
    public var width: Int, height: Int
    /// Whether the threshold was fitted on validation data (false: the plain 0.5 default of an uncalibrated file).
    public var fitted: Bool
    /// How the localiser did on its test split (the share of pristine images flagged, pixel F1), where its file records it.
    public var figures: [String: Double]?
}

/// How an image-level "contains an AI region" score is made from a per-pixel probability map.
public enum LocalisationStatistic: String, Sendable, Codable, CaseIterable {
    /// The highest mean probability of a region (a connected part of P >= 0.5 with at least 0.2% of the image).
    case bestRegion = "best-region"
    /// The share of the image's pixels at P >= 0.5.
    case flaggedFraction = "flagged-fraction"
    /// The 99th percentile of the map.
    case percentile99 = "p99"

    /// The regions of map `p`: connected parts of P >= `cut` with at least 0.2% of the image (and 16 pixels), best first.
    public static func regions(_ p: [Float], width: Int, height: Int, cut: Float) -> [ScoredBox] {
        BoxLocalisation.boxes(probabilities: p, width: width, height: height, threshold: cut, minimumPixels: max(16, width * height / 500))
    }

    /// The statistic of map `p`; `cut` is the per-pixel probability at which a pixel counts as flagged.
    public func score(_ p: [Float], width: Int, height: Int, cut: Float = 0.5) -> Double {
        guard !p.isEmpty else { return 0 }
        switch self {
        case .bestRegion:
            return Self.regions(p, width: width, height: height, cut: cut).first?.score ?? 0
        case .flaggedFraction:
            return Double(p.lazy.filter { $0 >= cut }.count) / Double(p.count)
        case .percentile99:
            return Double(p.sorted()[min(p.count - 1, p.count * 99 / 100)])
        }
    }
}

/// The image-level threshold of a per-pixel localiser: the statistic whose threshold keeps at most `maxPristine`
/// of the pristine validation images flagged while catching the most spliced ones. Stored in the model file's
/// metadata (`aidetect.localisation.*`); `Localiser` reads it back.
public struct LocalisationThreshold: Sendable, Codable, Equatable {
    public var statistic: LocalisationStatistic
    public var threshold: Double
    /// The per-pixel probability from which a pixel belongs to a region (fitted on validation for the best pixel
    /// F1; nil: 0.5). The models weight pasted pixels up in training, so their best cut is often above 0.5.
    public var pixelCut: Float?
    public var cut: Float { pixelCut ?? 0.5 }
    /// On the validation images it was fitted on.
    public var pristineFlagged: Double
    public var splicedFlagged: Double
    public var pristine: Int
    public var spliced: Int

    /// Fits on per-image scores of each statistic (`scores[s]` = one array per image), `isPristine[i]` marking the
    /// pristine images. Ties favour the earlier statistic in `LocalisationStatistic.allCases`.
    public static func fit(scores: [LocalisationStatistic: [Double]], isPristine: [Bool], maxPristine: Double = 0.05) -> LocalisationThreshold? {
        let nPristine = isPristine.filter { $0 }.count, nSpliced = isPristine.count - nPristine
        guard nPristine > 0, nSpliced > 0 else { return nil }
        var best: LocalisationThreshold?
        for s in LocalisationStatistic.allCases {
            guard let v = scores[s], v.count == isPristine.count else { continue }
            // The smallest threshold above all but floor(maxPristine * n) pristine scores.
            let pristineScores = zip(v, isPristine).filter { $0.1 }.map(\.0).sorted(by: >)
            let allowed = Int((maxPristine * Double(nPristine)).rounded(.down))
            let t = allowed < pristineScores.count ? pristineScores[allowed].nextUp : 0
            let flaggedP = Double(pristineScores.filter { $0 >= t }.count) / Double(nPristine)
            let flaggedS = Double(zip(v, isPristine).filter { !$0.1 && $0.0 >= t }.count) / Double(nSpliced)
            let candidate = LocalisationThreshold(statistic: s, threshold: t, pixelCut: nil, pristineFlagged: flaggedP, splicedFlagged: flaggedS,
                                                  pristine: nPristine, spliced: nSpliced)
            if best == nil || flaggedS > best!.splicedFlagged { best = candidate }
        }
        return best
    }

    static let key = "aidetect.localisation.threshold"
    static let figuresKey = "aidetect.localisation.figures"

    /// Writes the threshold into the model file's metadata (the weights untouched), atomically.
    public func save(into path: String) throws {
        let value = String(decoding: try JSONEncoder().encode(self), as: UTF8.self)
        try Self.updateMetadata(path) { $0[Self.key] = value }
    }

    /// Records test-split figures (`localise eval --record`) in the model file, for the page and the API to show.
    public static func record(figures: [String: Double], into path: String) throws {
        let value = String(decoding: try JSONEncoder().encode(figures), as: UTF8.self)
        try updateMetadata(path) { $0[figuresKey] = value }
    }

    /// Rewrites the file with changed metadata (`Safetensors.save` replaces it atomically).
    static func updateMetadata(_ path: String, _ change: (inout [String: String]) -> Void) throws {
        var (tensors, meta) = try Safetensors.load(path: path)
        change(&meta)
        try Safetensors.save(tensors, metadata: meta, path: path)
    }

    /// The threshold a model file's metadata holds (`save(into:)`), if any.
    public static func stored(in metadata: [String: String]) -> LocalisationThreshold? {
        metadata[key].flatMap { try? JSONDecoder().decode(LocalisationThreshold.self, from: Data($0.utf8)) }
    }
}

/// A trained localiser, per-pixel (`unet_small`, `fcn_resnet50`) or the box detector (`yolo_resnet18`), behind one
/// interface: `localise(_:)` gives the image-level decision, the regions and a mask. Safe to share across threads
/// (one image at a time per localiser).
public final class Localiser: @unchecked Sendable {
    enum Kind {
        case pixels(Detector)
        case boxes(BoxLocalisation.Model)
    }
    let kind: Kind
    public let path: String
    public let name: String
    /// Images are localised at most this many pixels on their longer side (the map is scaled back to the image).
    public let maxSide = 512
    public let threshold: LocalisationThreshold?
    public private(set) var figures: [String: Double]?
    private let lock = NSLock()

    /// Loads a localiser file: a box detector (`localise train --boxes`) or a per-pixel model (`localise train`).
    public init(path: String) throws {
        self.path = path
        // A trainer's output is DIR/best.safetensors: the folder names it better than the file.
        let file = (path as NSString).lastPathComponent, folder = ((path as NSString).deletingLastPathComponent as NSString).lastPathComponent
        name = ["best.safetensors", "checkpoint.safetensors"].contains(file) && !folder.isEmpty ? "\(folder)/\(file)" : file
        let meta: [String: String]
        do { meta = try Safetensors.metadata(path: path) } catch {
            throw DetectorError.notADetector(path: path, reason: error.localizedDescription)
        }
        figures = meta[LocalisationThreshold.figuresKey].flatMap { try? JSONDecoder().decode([String: Double].self, from: Data($0.utf8)) }
        if meta["aidetect.model"] == BoxLocalisation.architecture {
            kind = .boxes(try BoxLocalisation.Model.load(path))
            threshold = nil
        } else {
            let d = try Detector(path: path)
            guard d.entry.dense else {
                throw DetectorError.notADetector(path: path, reason: "\(d.entry.name) is an image-level detector, not a localiser (train one with `aidetect localise train`)")
            }
            kind = .pixels(d)
            threshold = LocalisationThreshold.stored(in: d.metadata)
        }
        if figures == nil, let t = threshold {
            // What the fitted threshold did on the validation images it was fitted on.
            figures = ["pristineFlagged": t.pristineFlagged, "splicedFlagged": t.splicedFlagged, "pristineImages": Double(t.pristine)]
        }
    }

    /// The per-pixel probability map of `image` at (width, height) of the working size (`maxSide`), that size, and
    /// for a box detector its boxes (in working pixels; the map is the boxes filled with their scores).
    public func probabilityMap(_ image: Image) -> (map: [Float], width: Int, height: Int, boxes: [ScoredBox]?) {
        let work = image.resized(longerSideAtMost: maxSide)
        return lock.withLock {
            switch kind {
            case .pixels(let d):
                let p = d.withExclusiveModel { LocalisationTrainer.predict($0, work, preprocessing: d.preprocessing) }
                return (p, work.width, work.height, nil)
            case .boxes(let m):
                var p = [Float](repeating: 0, count: work.width * work.height)
                let boxes = withNoGrad { m.predict(work) }
                for b in boxes {
                    let y0 = max(0, Int(b.y1)), y1 = min(work.height, Int(b.y2.rounded(.up)))
                    let x0 = max(0, Int(b.x1)), x1 = min(work.width, Int(b.x2.rounded(.up)))
                    guard y0 < y1, x0 < x1 else { continue }
                    for y in y0..<y1 {
                        for x in x0..<x1 { p[y * work.width + x] = max(p[y * work.width + x], Float(b.score)) }
                    }
                }
                return (p, work.width, work.height, boxes)
            }
        }
    }

    /// Localises `image`: the result and the binary mask at the image's own size (white = AI region). The image
    /// contains an AI region when its score reaches the threshold and at least one region is found.
    public func localise(_ image: Image) -> (result: LocalisationResult, mask: Image) {
        let (p, w, h, found) = probabilityMap(image)
        let sx = Double(image.width) / Double(w), sy = Double(image.height) / Double(h)
        var result = LocalisationResult(model: name, score: 0, threshold: 0.5, statistic: "", containsAIRegion: false, regions: [],
                                        maskedFraction: 0, width: image.width, height: image.height, fitted: false, figures: figures)
        var cut: Float = 0.5
        var boxes: [ScoredBox]
        switch kind {
        case .pixels:
            let t = threshold
            let statistic = t?.statistic ?? .bestRegion
            cut = t?.cut ?? 0.5
            boxes = LocalisationStatistic.regions(p, width: w, height: h, cut: cut)
            result.statistic = statistic.rawValue
            // The best region's score is the first of the regions just found: not searched for twice.
            result.score = statistic == .bestRegion ? boxes.first?.score ?? 0 : statistic.score(p, width: w, height: h, cut: cut)
            result.threshold = t?.threshold ?? 0.5
            result.fitted = t != nil
        case .boxes(let m):
            result.statistic = "best-box"
            result.threshold = m.imageThreshold
            result.fitted = true
            cut = Float(m.imageThreshold)
            boxes = (found ?? []).filter { $0.score >= m.imageThreshold }
            result.score = found?.map(\.score).max() ?? 0
        }
        result.containsAIRegion = result.score >= result.threshold && !boxes.isEmpty
        var mask = Image(width: image.width, height: image.height, fill: (0, 0, 0))
        guard result.containsAIRegion else { return (result, mask) }
        result.regions = boxes.map {
            LocalisationResult.Region(x: Int(($0.x1 * sx).rounded(.down)), y: Int(($0.y1 * sy).rounded(.down)),
                                      width: max(1, Int((($0.x2 - $0.x1) * sx).rounded())), height: max(1, Int((($0.y2 - $0.y1) * sy).rounded())), score: $0.score)
        }
        // The mask at the image's size: nearest working-map pixel at or above the cut.
        var px = mask.pixels, on = 0
        for y in 0..<image.height {
            let my = min(h - 1, Int(Double(y) / sy))
            for x in 0..<image.width where p[my * w + min(w - 1, Int(Double(x) / sx))] >= cut {
                let i = 3 * (y * image.width + x)
                px[i] = 255; px[i + 1] = 255; px[i + 2] = 255
                on += 1
            }
        }
        mask = Image(width: image.width, height: image.height, pixels: px)
        result.maskedFraction = Double(on) / Double(image.width * image.height)
        return (result, mask)
    }

    /// The image with the mask tinted red and each region outlined (for people; the mask PNG is for programs).
    public static func overlay(_ image: Image, mask: Image, regions: [LocalisationResult.Region]) -> Image {
        var px = image.pixels
        for i in 0..<(image.width * image.height) where mask.pixels[3 * i] > 127 {
            px[3 * i] = UInt8((Float(px[3 * i]) * 0.45 + 255 * 0.55).rounded())
            px[3 * i + 1] = UInt8((Float(px[3 * i + 1]) * 0.45).rounded())
            px[3 * i + 2] = UInt8((Float(px[3 * i + 2]) * 0.45).rounded())
        }
        let line = max(1, min(image.width, image.height) / 200)
        for r in regions {
            let x0 = max(0, r.x), y0 = max(0, r.y), x1 = min(image.width - 1, r.x + r.width - 1), y1 = min(image.height - 1, r.y + r.height - 1)
            guard x0 <= x1, y0 <= y1 else { continue }
            for y in y0...y1 {
                for x in x0...x1 where x - x0 < line || x1 - x < line || y - y0 < line || y1 - y < line {
                    let i = 3 * (y * image.width + x)
                    px[i] = 255; px[i + 1] = 214; px[i + 2] = 0
                }
            }
        }
        return Image(width: image.width, height: image.height, pixels: px)
    }
}

extension LocalisationThreshold {
    /// Fits the image-level threshold of the per-pixel model at `path` on a splice set's `split` (validation by
    /// default: never the test split the figures are reported on) and writes it into the model file.
    @discardableResult
    public static func fit(model path: String, data: String, split: String = "validation", maxPristine: Double = 0.05) throws -> LocalisationThreshold {
        let detector = try Detector(path: path)
        guard detector.entry.dense else {
            throw DetectorError.notADetector(path: path, reason: "\(detector.entry.name) is not a per-pixel model")
        }
        let items = try SpliceSetBuilder.load(data).filter { $0.split == split }
        // First the pixel cut (the best pooled pixel F1 over the spliced images), then the image-level statistic
        // and threshold with pixels flagged from that cut.
        let cuts: [Float] = stride(from: 0.05, through: 0.951, by: 0.05).map { Float($0) }
        var tp = [Double](repeating: 0, count: cuts.count), fp = tp, fn = tp
        var maps: [(p: [Float], width: Int, height: Int, pristine: Bool)] = []
        for item in items {
            guard let image = try? ImageDecoder().decode(path: "\(data)/\(item.image)").image else { continue }
            let p = detector.withExclusiveModel { LocalisationTrainer.predict($0, image, preprocessing: detector.preprocessing) }
            maps.append((p, image.width, image.height, item.isPristine))
            guard !item.isPristine, let mask = try? ImageDecoder().decode(path: "\(data)/\(item.mask)").image,
                  mask.width == image.width, mask.height == image.height else { continue }
            for (k, c) in cuts.enumerated() {
                let n = pixelCounts(p, mask: mask, cut: c)
                tp[k] += n.tp; fp[k] += n.fp; fn[k] += n.fn
            }
        }
        let f1 = cuts.indices.map { 2 * tp[$0] + fp[$0] + fn[$0] > 0 ? 2 * tp[$0] / (2 * tp[$0] + fp[$0] + fn[$0]) : 0 }
        let cut = cuts[f1.indices.max { f1[$0] < f1[$1] } ?? 9]
        var scores: [LocalisationStatistic: [Double]] = [:]
        for m in maps {
            for s in LocalisationStatistic.allCases { scores[s, default: []].append(s.score(m.p, width: m.width, height: m.height, cut: cut)) }
        }
        guard var fitted = fit(scores: scores, isPristine: maps.map(\.pristine), maxPristine: maxPristine) else {
            throw ValidationFailure("the \(split) split of \(data) needs both pristine and spliced images to fit a threshold (\(maps.count) read)")
        }
        fitted.pixelCut = cut
        try fitted.save(into: path)
        return fitted
    }
}

extension LocalisationThreshold {
    /// What a per-pixel trainer does after its last epoch: the image-level "contains an AI region" threshold, fitted on
    /// validation so that pristine images stay clean, saved into the model file and logged (a failure is logged, not thrown).
    static func fitAfterTraining(model path: String, data: String, log: (String) -> Void) {
        do {
            let t = try fit(model: path, data: data)
            log(String(format: "pixels from P >= %.2f; image-level threshold: %@ >= %.4f (validation: %.1f%% of %d pristine, %.1f%% of %d spliced flagged)",
                       t.cut, t.statistic.rawValue, t.threshold, t.pristineFlagged * 100, t.pristine, t.splicedFlagged * 100, t.spliced))
        } catch {
            log("no image-level threshold fitted: \(error.localizedDescription)")
        }
    }
}

/// A localisation step that cannot be done with the data given.
public struct ValidationFailure: Error, LocalizedError {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var errorDescription: String? { message }
}
