import Foundation
import Imaging
import Models
import NN
import Torch

/// Errors loading a detector.
public enum DetectorError: Error, LocalizedError, Equatable {
    case notADetector(path: String, reason: String)
    case noDefaultModel(searched: [String])
    public var errorDescription: String? {
        switch self {
        case .notADetector(let p, let r): return "\(p) is not an aidetect model file: \(r)"
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
    /// An untrained stand-in: its scores carry no information.
    public var isPlaceholder: Bool { metadata["aidetect.placeholder"] == "true" }
    private let lock = NSLock()

    public init(path: String) throws {
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
        do { try m.loadStateDict(loaded.tensors) } catch {
            throw DetectorError.notADetector(path: path, reason: error.localizedDescription)
        }
        m.eval()
        var pre = e.preprocessing
        if let p = meta["aidetect.preprocessing"], let d = p.data(using: .utf8), let decoded = try? JSONDecoder().decode(Preprocessing.self, from: d) {
            pre = decoded
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

    /// A model named on a command line or in a request: "default" is the bundled model, anything else a file path.
    public static func load(_ nameOrPath: String) throws -> Detector {
        nameOrPath == "default" ? try loadDefault() : try Detector(path: nameOrPath)
    }

    /// The bundled default model (Resources/default-model.safetensors), or $AIDETECT_MODEL.
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
    func viewLogits(_ image: Image) -> [Double] {
        let (batch, _) = Preprocessor(preprocessing).views(image)
        let logits: [Float] = lock.withLock {
            withNoGrad {
                let out = model(batch)
                return (entry.dense ? out.mean(axes: [2, 3]) : out).reshaped([-1]).toArray(Float.self)
            }
        }
        return logits.map(Double.init)
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
        let z = viewLogits(image)
        let mean = z.reduce(0, +) / Double(max(z.count, 1))
        return (calibrator.probability(logit: mean), z.map { calibrator.probability(logit: $0) })
    }
}

/// Writes a model file that `Detector(path:)` can load.
/// - Parameter halfPrecision: store floating-point tensors as float16 (half the size; loaded back as float32).
public func saveDetector(_ model: Module, architecture: String, path: String, classes: Int = 1, placeholder: Bool = false,
                         description: String, calibrator: Calibrator? = nil, preprocessing: Preprocessing? = nil,
                         halfPrecision: Bool = false, extra: [String: String] = [:]) throws {
    var meta = extra
    meta["aidetect.model"] = architecture
    meta["aidetect.classes"] = String(classes)
    meta["aidetect.description"] = description
    if placeholder { meta["aidetect.placeholder"] = "true" }
    let enc = JSONEncoder()
    enc.outputFormatting = .sortedKeys
    if let calibrator { meta["aidetect.calibration"] = String(decoding: try enc.encode(calibrator), as: UTF8.self) }
    if let preprocessing { meta["aidetect.preprocessing"] = String(decoding: try enc.encode(preprocessing), as: UTF8.self) }
    var tensors = model.stateDict()
    if halfPrecision {
        for (k, t) in tensors where t.dtype == .float32 { tensors[k] = t.to(.float16) }
    }
    try Safetensors.save(tensors, metadata: meta, path: path)
}
