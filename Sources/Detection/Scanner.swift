import Foundation
import Synchronization
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

    /// Files decoded together, in parallel, by `walk` and by a (journaled) scan: `$AIDETECT_SCAN_BATCH`, else 4.
    /// Each file's views then go through the models in a forward pass of their own, never batched with other files':
    /// batched matrix kernels round differently for another batch size, and a file's score must not depend on the
    /// files scanned beside it (a resumed or sharded scan reports exactly what one scan reports; the API, the page
    /// and `scan` agree to the last digit). The encoder alone runs a batch of 8 in 0.85 of the time of eight batches
    /// of one (bench/RESULTS.md, fp32); end to end on the 2-core development VM, scans with forward batches of 1 and 8
    /// took the same time within its +-10% drift. Memory stays bounded by it, whatever the number of files.
    public var batchSize: Int = max(1, ProcessInfo.processInfo.environment["AIDETECT_SCAN_BATCH"].flatMap { Int($0) } ?? 4)

    /// Scans `path` (a file, or a folder recursively in name order), calling `handle` per file, in order.
    public mutating func walk(_ path: String, _ handle: (ScanResult) -> Void) {
        let scanner = self  // scanning reads a copy while the walk counts skipped files in self
        var pending: [String] = []
        func flush() {
            for r in scanner.scan(files: pending) { handle(r) }
            pending.removeAll(keepingCapacity: true)
        }
        walkFiles(path) { found in
            switch found {
            case .file(let f):
                pending.append(f)
                if pending.count >= scanner.batchSize { flush() }
            case .failure(let r):
                flush()
                handle(r)
            }
        }
        flush()
    }

    /// Decodes `files` (in parallel) and scores the images among them, each in its own forward pass (see `batchSize`);
    /// a file that cannot be decoded gets its error row and the others their results. Results are in the order of
    /// `files`. `bytes[i]`, when
    /// given, are file i's bytes already read (a journaled scan hashes them first).
    public func scan(files: [String], bytes: [[UInt8]?]? = nil) -> [ScanResult] {
        precondition(bytes == nil || bytes!.count == files.count, "scan(files:bytes:): one entry of bytes per file")
        guard files.count > 1 else { return files.indices.map { scan(file: files[$0], bytes: bytes?[$0]) } }
        let start = DispatchTime.now().uptimeNanoseconds
        let decoded = Mutex<[Int: Result<DecodedImage, any Error>]>([:])
        let decoder = self.decoder
        DispatchQueue.concurrentPerform(iterations: files.count) { i in
            let d = Result { try bytes?[i].map { try decoder.decode(data: $0, name: files[i]) } ?? decoder.decode(path: files[i]) }
            decoded.withLock { $0[i] = d }
        }
        let outcomes = decoded.withLock { $0 }
        var results = files.map { ScanResult(path: $0) }
        var images: [(index: Int, image: DecodedImage)] = []
        for i in files.indices {
            switch outcomes[i]! {
            case .success(let d): images.append((i, d))
            case .failure(let e): fail(&results[i], e)
            }
        }
        if !images.isEmpty {
            let perModel = detectors.map { d in images.map { d.assess($0.image.image) } }
            for (k, item) in images.enumerated() {
                finish(&results[item.index], item.image, perModel.map { $0[k] })
            }
        }
        let each = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6 / Double(files.count)
        for i in results.indices { results[i].milliseconds = each }
        return results
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
            finish(&r, d, detectors.map { $0.assess(d.image) })
        } catch {
            fail(&r, error)
        }
        r.milliseconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        return r
    }

    /// Fills a decoded file's row from each model's assessment (by position: every model counts, whatever its name).
    func finish(_ r: inout ScanResult, _ d: DecodedImage, _ assessments: [Detector.Assessment]) {
        r.format = d.format.name
        r.width = d.image.width
        r.height = d.image.height
        let scores = assessments.map(\.probability), families = assessments.map(\.family)
        r.views = assessments.map(\.views.count).max()
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
    }

    /// A file's error row: the decoder's typed kind, or "error" with the file named.
    func fail(_ r: inout ScanResult, _ error: any Error) {
        if let e = error as? ImageError {
            r.errorKind = e.kind
            r.error = e.localizedDescription
        } else {
            r.errorKind = "error"
            r.error = "\(r.path): \(error.localizedDescription)"
        }
    }
}
