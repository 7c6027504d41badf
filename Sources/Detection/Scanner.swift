import Foundation
import Imaging

/// One file's outcome in a scan: a score and verdict, or the error that stopped it.
public struct ScanResult: Sendable, Codable {
    public private(set) var path: String
    public var format: String?
    public var width: Int?
    public var height: Int?
    /// Calibrated P(AI-generated): the model's; with several, the stacker's or the primary model's (`Judgement`).
    public var probability: Double?
    /// Each model's calibrated P(AI), in the order of the scanner's `detectors` (set when scanning with several
    /// models); kept by position, so two models that share a name are both counted (`Scanner.names` labels them).
    public var scores: [Double]?
    public var views: Int?
    public var verdict: Verdict?
    /// Some models call the image likely AI-made and others likely real (set with several models).
    public var disagreement: Bool?
    /// Why detectors cannot judge this image (the verdict is then "uncertain"), if so.
    public var outOfScope: OutOfScope?
    /// Why the verdict is what it is (`Judgement.reason`).
    public var reason: String?
    /// The generator family the attribution head names (`AttributionFamily`: real, gan, open-weights, closed-service)
    /// and its probability, from the primary model when it has such a head (else the first model that has one).
    public var family: String?
    public var familyProbability: Double?
    public var errorKind: String?
    public var error: String?
    public var milliseconds: Double

    public init(path: String) {
        self.path = path
        milliseconds = 0
    }

    /// The same outcome under another path (identical bytes found under two names).
    public init(copying other: ScanResult, path: String) {
        self = other
        self.path = path
    }
}

/// Walks files and folders, decoding and scoring each image; one bad file never stops the walk.
/// Memory stays flat: results are handed out one at a time and nothing is kept.
public struct Scanner {
    public static let imageExtensions: Set<String> = ["jpg", "jpeg", "jpe", "jfif", "png", "webp", "tif", "tiff", "gif", "bmp",
                                                      "heic", "heif", "avif"]
    public let decoder: ImageDecoder
    public let detectors: [Detector]
    /// The models' display names, unique even when models share a name (`Detector.displayNames`); `names[i]`
    /// labels `detectors[i]` and `ScanResult.scores[i]`.
    public let names: [String]
    public var detector: Detector { detectors[0] }
    /// Also try files whose extension is not an image type (inside folders; named files are always tried).
    public var includeAllFiles: Bool
    /// Sends blank, noise-like and screen-like images to "uncertain" with the reason.
    public var contentCheck = ContentCheck.standard
    /// Combines several models' scores (`Stacker.find(for:)` by default); without one the primary model's score stands.
    public var stacker: Stacker?
    /// The model whose score stands without a stacker: the best held-out figure on the cards.
    public let primary: Int

    public init(decoder: ImageDecoder, detector: Detector, includeAllFiles: Bool = false) {
        self.init(decoder: decoder, detectors: [detector], includeAllFiles: includeAllFiles)
    }
    /// Several models: each scores every image; their scores combine through the stacker fitted for them, else
    /// the primary model's score stands (never a plain mean).
    /// `stacker`: nil looks one up (`Stacker.find(for:)`); pass `.some(nil)` to go without.
    public init(decoder: ImageDecoder, detectors: [Detector], includeAllFiles: Bool = false, stacker: Stacker?? = nil) {
        precondition(!detectors.isEmpty, "Scanner: at least one detector")
        self.decoder = decoder
        self.detectors = detectors
        names = Detector.displayNames(detectors)
        self.includeAllFiles = includeAllFiles
        self.stacker = stacker ?? Stacker.find(for: detectors)
        primary = Judgement.primary(heldOutAUC: detectors.map { $0.figures?.heldOutAUC })
    }

    /// Files `walk` passed over for their extension (without `includeAllFiles`), so far.
    public private(set) var skippedNonImages = 0

    /// What `walkFiles` finds: a file to scan, or a path that cannot be walked (its error row).
    public enum Found {
        case file(String)
        case failure(ScanResult)
    }

    /// Scans `path` (a file, or a folder recursively in name order), calling `handle` per file.
    public mutating func walk(_ path: String, _ handle: (ScanResult) -> Void) {
        let scanner = self  // scanning reads a copy while the walk counts skipped files in self
        walkFiles(path) { found in
            switch found {
            case .file(let f): handle(scanner.scan(file: f))
            case .failure(let r): handle(r)
            }
        }
    }

    /// The files `walk` would scan under `path`, in the same order, without scanning them.
    public mutating func walkFiles(_ path: String, _ handle: (Found) -> Void) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            var r = ScanResult(path: path)
            r.errorKind = "unreadable"
            r.error = "\(path): no such file or folder"
            handle(.failure(r))
            return
        }
        if !isDir.boolValue {
            handle(.file(path))
            return
        }
        let entries: [String]
        do { entries = try FileManager.default.contentsOfDirectory(atPath: path).sorted() } catch {
            var r = ScanResult(path: path)
            r.errorKind = "unreadable"
            r.error = "\(path): cannot list the folder (\(error.localizedDescription))"
            handle(.failure(r))
            return
        }
        for name in entries where !name.hasPrefix(".") {
            let child = (path as NSString).appendingPathComponent(name)
            var childIsDir: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: child, isDirectory: &childIsDir)
            if childIsDir.boolValue {
                walkFiles(child, handle)
            } else if includeAllFiles || Self.imageExtensions.contains((name as NSString).pathExtension.lowercased()) {
                handle(.file(child))
            } else {
                skippedNonImages += 1
            }
        }
    }

    /// Decodes and scores one file.
    public func scan(file: String) -> ScanResult { scan(file: file, bytes: nil) }

    /// Decodes and scores one file from `bytes` already read (a journaled scan hashes them first), or reads it.
    public func scan(file: String, bytes: [UInt8]?) -> ScanResult {
        let start = DispatchTime.now().uptimeNanoseconds
        var r = ScanResult(path: file)
        do {
            let d = try bytes.map { try decoder.decode(data: $0, name: file) } ?? decoder.decode(path: file)
            r.format = d.format.name
            r.width = d.image.width
            r.height = d.image.height
            // By position: every model counts, whatever its name.
            var scores: [Double] = []
            var families: [[(family: String, probability: Double)]?] = []
            for det in detectors {
                let s = det.assess(d.image)
                scores.append(s.probability)
                families.append(s.family)
                r.views = max(r.views ?? 0, s.views.count)
            }
            if let best = (families[primary] ?? families.lazy.compactMap { $0 }.first)?.first {
                r.family = best.family
                r.familyProbability = best.probability
            }
            let judgement = Judgement(scores: scores, names: names, outOfScope: contentCheck.assess(d.image), stacker: stacker, primary: primary)
            r.probability = judgement.probability
            if detectors.count > 1 {
                r.scores = scores
                r.disagreement = judgement.disagreement
            }
            r.verdict = judgement.verdict
            r.outOfScope = judgement.outOfScope
            r.reason = judgement.reason
        } catch let e as ImageError {
            r.errorKind = e.kind
            r.error = e.localizedDescription
        } catch {
            r.errorKind = "error"
            r.error = "\(file): \(error.localizedDescription)"
        }
        r.milliseconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        return r
    }
}
