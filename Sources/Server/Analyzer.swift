import Detection
import Explain
import Forensics
import Foundation
import Imaging

/// The models the server scores with, loaded once at start-up and shared by every request (each `Detector`
/// serialises its own forward passes; explanations hold a model exclusively while they run).
public final class Analyzer: Sendable {
    public let detectors: [Detector]
    /// The models' names as clients see and pick them, unique even when two files share a name
    /// (`Detector.displayNames`); `names[i]` is `detectors[i]`'s.
    public let names: [String]
    public let limits: ImageLimits
    /// Overlays sent to clients are at most this many pixels on their longer side.
    public let overlaySide: Int
    /// The model files' digests (nil where unreadable) and the stackers found at start-up: a request that picks
    /// several models is combined by the stacker fitted for exactly those, else the primary model's score stands.
    let digests: [String?]
    let stackers: [Stacker]
    /// The localiser that marks AI regions when a request asks (`localise`), if one was loaded (`serve --localiser`).
    public let localiser: Localiser?

    public init(detectors: [Detector], limits: ImageLimits = .default, overlaySide: Int = 768, stackers: [Stacker]? = nil, localiser: Localiser? = nil) {
        precondition(!detectors.isEmpty, "Analyzer needs at least one model")
        self.detectors = detectors
        self.localiser = localiser
        names = Detector.displayNames(detectors)
        self.limits = limits
        self.overlaySide = overlaySide
        self.stackers = detectors.count > 1 ? (stackers ?? Stacker.available()) : []
        digests = detectors.count > 1 ? detectors.map { try? ContentDigest.file(path: $0.path) } : detectors.map { _ in nil }
    }

    /// Loads models by name or file (`Detector.load`: "default", "bundled", "clip", or a path).
    public static func load(models: [String], limits: ImageLimits = .default, localiser: String? = nil) throws -> Analyzer {
        Analyzer(detectors: try models.map(Detector.load), limits: limits, localiser: try localiser.map { try Localiser(path: $0) })
    }

    public struct ModelScore: Sendable, Codable {
        public var name: String
        /// A short name for people ("CLIP ViT-B/16 probe"); `name` is what clients pick the model by.
        public var label: String
        public var architecture: String
        public var probability: Double
        public var verdict: String
        public var placeholder: Bool
        /// Whether the probability is calibrated (the model file carries a calibration fitted on validation data).
        public var calibrated: Bool
        /// The model card's headline figures (held-out ROC-AUC, false alarms on real test images), where the file has them.
        public var figures: CardFigures?
        /// The generator family the model's attribution head names, with probabilities, best first (models with a head).
        public var family: [FamilyScore]?
    }
    public struct FamilyScore: Sendable, Codable {
        public var family: String
        public var probability: Double
    }
    public struct HeatmapOut: Sendable, Codable {
        public var model: String
        public var method: String
        public var width: Int
        public var height: Int
        /// The map over the image (PNG, base64), at most `overlaySide` on the longer side.
        public var overlayPNG: String
    }
    /// Where a localiser found AI regions: its result (regions as boxes in the image's pixels) with the mask and an
    /// overlay (PNG, base64, at most `overlaySide` on the longer side).
    public struct LocalisationOut: Sendable, Codable {
        public var result: LocalisationResult
        public var maskPNG: String
        public var overlayPNG: String
    }
    public struct FileInfo: Sendable, Codable {
        public var name: String?
        public var bytes: Int
        public var format: String
        public var width: Int
        public var height: Int
    }
    public struct Report: Sendable, Codable {
        public var file: FileInfo
        public var models: [ModelScore]
        /// Mean of the models' probabilities (calibrated where each model is); its verdict is the combined one
        /// (`Judgement`: "uncertain" when the models disagree or the image is out of scope).
        public var ensemble: ModelScore
        /// Some models call the image likely AI-made and others likely real.
        public var disagreement: Bool
        /// Why detectors cannot judge this image (`too-little-content`, `noise-like`, `flat-graphics`), if so.
        public var outOfScope: String?
        /// Why the models' verdict is what it is.
        public var reason: String
        public var provenance: ProvenanceReport
        public var fused: FusedVerdict
        public var heatmaps: [HeatmapOut]
        /// AI regions, when the request asked for them (`localise`) and a localiser is loaded.
        public var localisation: LocalisationOut?
        /// Steps that could not be done (an explanation that does not apply or failed, ...); the verdict stands.
        public var warnings: [String]
        /// How far to trust any of this (`Reliability.caveat`).
        public var caveat: String
        /// Time spent on the request, in milliseconds (as the CLI's `milliseconds`).
        public var milliseconds: Double
    }

    /// The position of the model a client names: its display name (`names`), or its own name where no other
    /// loaded model carries it. Throws `AnalyzerError.unknownModel` listing the display names.
    public func index(ofModel n: String) throws -> Int {
        if let i = names.firstIndex(of: n) { return i }
        let own = detectors.indices.filter { detectors[$0].name == n }
        guard own.count == 1 else { throw AnalyzerError.unknownModel(n, available: names) }
        return own[0]
    }

    /// The explanation methods that apply to each loaded model (by display name), for clients to offer.
    public func explanationMethods(model i: Int) -> [ExplanationMethod] { Explainer(detector: detectors[i]).applicableMethods }

    /// Scores one file's bytes. `models` picks models by display name (empty = all; see `index(ofModel:)`); `explain`
    /// adds heat maps of every picked model for the methods that apply to it. Verdict first: an explanation that
    /// does not apply or fails adds a warning and never removes the verdict. Throws `ImageError` for bad input and
    /// `AnalyzerError` for unknown options.
    public func analyze(_ bytes: [UInt8], name: String? = nil, models picked: [String] = [], explain: [ExplanationMethod] = [],
                        localise: Bool = false, contentCheck: ContentCheck = .standard) throws -> Report {
        let start = Date()
        // Positions, not names: two models that share a name are both scored, and either can be picked.
        let chosen = picked.isEmpty ? Array(detectors.indices) : try picked.map { try index(ofModel: $0) }
        let decoded = try ImageDecoder(limits: limits).decode(data: bytes, name: name ?? "upload")
        let image = decoded.image
        let scores = chosen.map { i -> ModelScore in
            let d = detectors[i]
            let a = d.assess(image)
            let p = a.probability
            return ModelScore(name: names[i], label: d.label, architecture: d.entry.name, probability: p, verdict: Verdict(probability: p).rawValue,
                              placeholder: d.isPlaceholder, calibrated: d.metadata["aidetect.calibration"] != nil, figures: d.figures,
                              family: a.family.map { $0.map { FamilyScore(family: $0.family, probability: $0.probability) } })
        }
        // The reason names models by their short labels where those tell them apart.
        let labels = scores.map(\.label)
        let stacker = Stacker.matching(stackers, digests: chosen.map { digests[$0] })
        let primary = Judgement.primary(heldOutAUC: scores.map { $0.figures?.heldOutAUC })
        let judgement = Judgement(scores: scores.map(\.probability), names: Set(labels).count == labels.count ? labels : scores.map(\.name),
                                  outOfScope: contentCheck.assess(image), stacker: stacker, primary: primary)
        // Any placeholder member makes the ensemble's score uninformative (as in the CLI's scan).
        let combination = scores.count == 1 ? scores[0].label : (stacker != nil ? "stacker of \(scores.count) models" : "\(scores[primary].label) (best held-out figure)")
        let ensemble = ModelScore(name: "ensemble", label: combination, architecture: stacker != nil ? "stacker" : "primary",
                                  probability: judgement.probability, verdict: judgement.verdict.rawValue,
                                  placeholder: scores.contains(where: \.placeholder), calibrated: scores.allSatisfy(\.calibrated), figures: nil,
                                  family: (scores[primary].family ?? scores.lazy.compactMap(\.family).first))
        var warnings: [String] = []
        var provenance = ProvenanceReport.analyze(bytes)
        provenance.checkWatermark(decoded.image)
        var heatmaps: [HeatmapOut] = []
        // Heat maps and the region overlay are drawn on one copy at most `overlaySide` on its longer side.
        let scale = image.scale(toLongerSide: overlaySide)
        let small = explain.isEmpty && !localise ? image : image.resized(longerSideAtMost: overlaySide)
        if !explain.isEmpty {
            for i in chosen {
                let explainer = Explainer(detector: detectors[i])
                for m in explain {
                    if let why = explainer.inapplicability(of: m) {
                        warnings.append("\(m.rawValue) heat map not made for \(names[i]): \(why)")
                        continue
                    }
                    do {
                        for map in try explainer.explain(small, method: m) {
                            heatmaps.append(HeatmapOut(model: names[i], method: map.name, width: map.width, height: map.height,
                                                       overlayPNG: Data(ImageEncoder.png(map.overlay(on: small))).base64EncodedString()))
                        }
                    } catch {
                        warnings.append("\(m.rawValue) heat map failed for \(names[i]): \(error.localizedDescription)")
                    }
                }
            }
        }
        var localisation: LocalisationOut?
        if localise {
            if let localiser {
                let (result, mask) = localiser.localise(image)
                let smallMask = mask.resized(longerSideAtMost: overlaySide, filter: .bilinear)
                let regions = result.regions.map {
                    LocalisationResult.Region(x: Int(Double($0.x) * scale), y: Int(Double($0.y) * scale), width: max(1, Int(Double($0.width) * scale)),
                                              height: max(1, Int(Double($0.height) * scale)), score: $0.score)
                }
                localisation = LocalisationOut(result: result, maskPNG: Data(ImageEncoder.png(smallMask)).base64EncodedString(),
                                               overlayPNG: Data(ImageEncoder.png(Localiser.overlay(small, mask: smallMask, regions: regions))).base64EncodedString())
            } else {
                warnings.append("AI regions not marked: the server has no localiser (start it with serve --localiser FILE)")
            }
        }
        var fused = FusedVerdict(modelProbability: judgement.probability, provenance: provenance)
        if fused.basis == "model" {
            fused.verdict = judgement.verdict.rawValue
        }
        fused.reason = fused.basis.hasPrefix("provenance") ? "the file's provenance metadata names an AI generator" : judgement.reason
        return Report(file: FileInfo(name: name, bytes: bytes.count, format: decoded.format.name, width: image.width, height: image.height),
                      models: scores, ensemble: ensemble, disagreement: judgement.disagreement, outOfScope: judgement.outOfScope?.rawValue,
                      reason: judgement.reason, provenance: provenance, fused: fused, heatmaps: heatmaps, localisation: localisation, warnings: warnings,
                      caveat: Reliability.caveat, milliseconds: Date().timeIntervalSince(start) * 1000)
    }
}

public enum AnalyzerError: Error, LocalizedError, Equatable {
    case unknownModel(String, available: [String])
    case unknownMethod(String)
    case badOption(String, value: String, expected: String)
    public var errorDescription: String? {
        switch self {
        case .badOption(let o, let v, let e): return "\(o)=\(v) is not understood; give \(e)"
        case .unknownModel(let m, let a): return "unknown model '\(m)'; available: \(a.joined(separator: ", "))"
        case .unknownMethod(let m): return "unknown explain method '\(m)'; choose from \(ExplanationMethod.allCases.map(\.rawValue).joined(separator: ", "))"
        }
    }
}

/// Bounded inference concurrency with a bounded queue: `enter` waits for a slot, or throws `.full` when the
/// queue is at capacity (the server answers 503 with Retry-After).
public actor InferenceGate {
    public enum Failure: Error { case full }
    public let limit: Int
    public let maxQueue: Int
    private var running = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []

    public init(limit: Int, maxQueue: Int) {
        self.limit = max(1, limit)
        self.maxQueue = max(0, maxQueue)
    }

    public var queueDepth: Int { waiters.count }
    public var inFlight: Int { running }

    public func enter() async throws {
        if running < limit { running += 1; return }
        guard waiters.count < maxQueue else { throw Failure.full }
        await withCheckedContinuation { waiters.append($0) }
    }

    public func leave() {
        if waiters.isEmpty { running -= 1 } else { waiters.removeFirst().resume() }
    }
}

