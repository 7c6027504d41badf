import Foundation
import Imaging

public enum DatasetError: Error, LocalizedError, Equatable {
    case unreadable(path: String, reason: String)
    case badLayout(path: String, reason: String)
    case empty(String)
    public var errorDescription: String? {
        switch self {
        case .unreadable(let p, let r): return "\(p): \(r)"
        case .badLayout(let p, let r): return "\(p): \(r)"
        case .empty(let what): return "no samples: \(what)"
        }
    }
}

/// Real (0) or AI-generated (1): "AI = positive", as in the studies.
public enum Label: Int, Sendable, Codable, CaseIterable {
    case real = 0, fake = 1
    public init?(folder: String) {
        switch folder.lowercased() {
        case "real": self = .real
        case "fake", "ai", "generated": self = .fake
        default: return nil
        }
    }
}

/// Where a sample's bytes live.
public enum SampleSource: Sendable, Hashable {
    case file(String)
    case tarMember(tar: String, member: String)
}

public struct Sample: Sendable, Hashable {
    public let source: SampleSource
    public let label: Label
    public let generator: String
    /// A stable identifier ("<tar>:<member>" or the path), used for splitting and leak checks.
    public var id: String {
        switch source {
        case .file(let p): return p
        case .tarMember(let t, let m): return "\((t as NSString).lastPathComponent):\(m)"
        }
    }
    public init(source: SampleSource, label: Label, generator: String) {
        self.source = source
        self.label = label
        self.generator = generator
    }
}

/// A labelled set of images laid out `<label>/<generator>/...` (label real|fake), from folders, tar files
/// or a CSV manifest (columns `path,label,generator`, plus `tar` for tar members as in ../shared/data).
public struct Dataset: Sendable {
    public var samples: [Sample]
    public init(samples: [Sample]) { self.samples = samples }

    /// Every image below `root` whose path (relative to root, or to the tar) starts with `<label>/<generator>/`.
    public static func load(_ root: String) throws -> Dataset {
        if root.hasSuffix(".tar") { return try fromTar(root) }
        if root.hasSuffix(".tar.gz") || root.hasSuffix(".tgz") { return try fromTar(try decompressedTar(root)) }
        if root.hasSuffix(".csv") { return try fromManifest(root) }
        return try fromFolder(root)
    }

    /// The cache folder for derived data: $AIDETECT_CACHE, else `.cache` in the working directory.
    public static var cacheDirectory: String {
        ProcessInfo.processInfo.environment["AIDETECT_CACHE"] ?? FileManager.default.currentDirectoryPath + "/.cache"
    }

    /// A gzipped tar, decompressed once into `cacheDirectory/data` (keyed by name, size and modification time)
    /// so that its members can be read in place like any tar.
    public static func decompressedTar(_ path: String) throws -> String {
        let fm = FileManager.default
        guard let a = try? fm.attributesOfItem(atPath: path), let size = a[.size] as? Int else {
            throw DatasetError.unreadable(path: path, reason: "cannot read the file")
        }
        let mtime = Int((a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)
        let base = URL(fileURLWithPath: path).lastPathComponent.replacingOccurrences(of: ".tar.gz", with: "").replacingOccurrences(of: ".tgz", with: "")
        let dir = cacheDirectory + "/data"
        let out = "\(dir)/\(base)-\(size)-\(mtime).tar"
        if fm.fileExists(atPath: out) { return out }
        do {
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try Gzip.decompress(file: path, to: out)
        } catch {
            throw DatasetError.unreadable(path: path, reason: "cannot decompress into \(dir): \(error.localizedDescription)")
        }
        return out
    }

    static func labelled(_ relative: String) -> (Label, String)? {
        let parts = relative.split(separator: "/")
        guard parts.count >= 3, let l = Label(folder: String(parts[0])) else { return nil }
        let ext = (relative as NSString).pathExtension.lowercased()
        guard Scanner.imageExtensions.contains(ext) else { return nil }
        return (l, String(parts[1]))
    }

    public static func fromFolder(_ root: String) throws -> Dataset {
        guard let e = FileManager.default.enumerator(atPath: root) else { throw DatasetError.unreadable(path: root, reason: "not a folder") }
        var s: [Sample] = []
        while let rel = e.nextObject() as? String {
            if let (l, g) = labelled(rel) { s.append(Sample(source: .file((root as NSString).appendingPathComponent(rel)), label: l, generator: g)) }
        }
        guard !s.isEmpty else { throw DatasetError.badLayout(path: root, reason: "no images under <real|fake>/<generator>/") }
        return Dataset(samples: s.sorted { $0.id < $1.id })
    }

    public static func fromTar(_ path: String) throws -> Dataset {
        let tar = try TarArchive(path: path)
        let s = tar.names.compactMap { n in labelled(n).map { Sample(source: .tarMember(tar: path, member: n), label: $0.0, generator: $0.1) } }
        guard !s.isEmpty else { throw DatasetError.badLayout(path: path, reason: "no members under <real|fake>/<generator>/") }
        return Dataset(samples: s.sorted { $0.id < $1.id })
    }

    /// A CSV manifest: `path,label,generator[,tar]` columns by header name; paths relative to the CSV's folder.
    public static func fromManifest(_ path: String) throws -> Dataset {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw DatasetError.unreadable(path: path, reason: "cannot read") }
        var lines = text.split(whereSeparator: \.isNewline).map(String.init)
        guard !lines.isEmpty else { throw DatasetError.empty(path) }
        let header = lines.removeFirst().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let pi = header.firstIndex(of: "path"), let li = header.firstIndex(of: "label") else {
            throw DatasetError.badLayout(path: path, reason: "manifest needs path and label columns")
        }
        let gi = header.firstIndex(of: "generator"), ti = header.firstIndex(of: "tar")
        let base = (path as NSString).deletingLastPathComponent
        func resolve(_ p: String) -> String { p.hasPrefix("/") ? p : (base as NSString).appendingPathComponent(p) }
        var s: [Sample] = []
        for (n, line) in lines.enumerated() {
            let f = csvFields(line)
            guard f.count == header.count, let l = Label(folder: f[li]) else {
                throw DatasetError.badLayout(path: path, reason: "line \(n + 2) is malformed")
            }
            let g = gi.map { f[$0] } ?? "unknown"
            if let ti, !f[ti].isEmpty {
                s.append(Sample(source: .tarMember(tar: resolve(f[ti]), member: f[pi]), label: l, generator: g))
            } else {
                s.append(Sample(source: .file(resolve(f[pi])), label: l, generator: g))
            }
        }
        return Dataset(samples: s)
    }

    /// One CSV field, quoted when it holds a comma or a quote (the writer's side of `csvFields`).
    public static func csvField(_ s: String) -> String {
        s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    public static func csvFields(_ line: String) -> [String] {
        var out: [String] = [], cur = "", quoted = false
        var it = Array(line).makeIterator()
        while let c = it.next() {
            if c == "\"" { quoted.toggle(); continue }
            if c == "," && !quoted { out.append(cur); cur = ""; continue }
            cur.append(c)
        }
        out.append(cur)
        return out
    }

    // MARK: Selection

    public var generators: [String] { Array(Set(samples.map(\.generator))).sorted() }
    public func counts() -> [String: Int] { samples.reduce(into: [:]) { $0["\($1.label)/\($1.generator)", default: 0] += 1 } }

    public func filtered(_ keep: (Sample) -> Bool) -> Dataset { Dataset(samples: samples.filter(keep)) }
    /// Without the named generators (leave-generators-out).
    public func excluding(generators g: Set<String>) -> Dataset { filtered { !g.contains($0.generator) } }
    public func only(generators g: Set<String>) -> Dataset { filtered { g.contains($0.generator) } }

    /// At most `cap` samples per generator (a deterministic, evenly spread choice).
    public func capped(perGenerator cap: Int, seed: UInt64 = 0) -> Dataset {
        var out: [Sample] = []
        for g in generators {
            let items = seededOrder(samples.filter { $0.generator == g }, seed)
            out += items.prefix(cap)
        }
        return Dataset(samples: out.sorted { $0.id < $1.id })
    }

    /// Deterministic stratified split by (label, generator): each group is ordered by a seeded hash of the
    /// sample id and cut by the fractions, so no sample is in two splits and the same seed gives the same split.
    public func split(train: Double, validation: Double, seed: UInt64 = 0) -> (train: Dataset, validation: Dataset, test: Dataset) {
        precondition(train >= 0 && validation >= 0 && train + validation <= 1, "split: fractions must be in [0, 1] and sum to at most 1")
        var tr: [Sample] = [], va: [Sample] = [], te: [Sample] = []
        let groups = Dictionary(grouping: samples) { "\($0.label)/\($0.generator)" }
        for key in groups.keys.sorted() {
            let g = seededOrder(groups[key]!, seed)
            let nTrain = Int((Double(g.count) * train).rounded())
            let nVal = min(g.count - nTrain, Int((Double(g.count) * validation).rounded()))
            tr += g[0..<nTrain]
            va += g[nTrain..<(nTrain + nVal)]
            te += g[(nTrain + nVal)...]
        }
        return (Dataset(samples: tr), Dataset(samples: va), Dataset(samples: te))
    }

    /// The split every trainer, probe and evaluation in aidetect uses: 70 % train, 15 % validation, 15 % test,
    /// stratified and seeded (`split(train:validation:seed:)`). A model trained on a set with seed s is only
    /// judged fairly on `standardSplit(seed: s).test` of that same set.
    public static let trainFraction = 0.7, validationFraction = 0.15
    public func standardSplit(seed: UInt64 = 0) -> (train: Dataset, validation: Dataset, test: Dataset) {
        split(train: Self.trainFraction, validation: Self.validationFraction, seed: seed)
    }

    /// Writes this set as a manifest CSV (path,label,generator,tar; absolute paths and tar members) that
    /// `Dataset.load` and `Trainer` read like any data set.
    public func writeManifest(to path: String) throws {
        // Relative paths (to the working directory) become absolute: the manifest resolves relative ones to its own folder.
        let cwd = FileManager.default.currentDirectoryPath
        func absolute(_ p: String) -> String { p.hasPrefix("/") ? p : (cwd as NSString).appendingPathComponent(p) }
        var csv = "path,label,generator,tar\n"
        for s in samples {
            switch s.source {
            case .file(let p): csv += "\(Self.csvField(absolute(p))),\(s.label),\(Self.csvField(s.generator)),\n"
            case .tarMember(let t, let m): csv += "\(Self.csvField(m)),\(s.label),\(Self.csvField(s.generator)),\(Self.csvField(absolute(t)))\n"
            }
        }
        try csv.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Equal numbers of real and fake samples: the larger class is subsampled (deterministically).
    public func balanced(seed: UInt64 = 0) -> Dataset {
        let real = samples.filter { $0.label == .real }, fake = samples.filter { $0.label == .fake }
        let n = min(real.count, fake.count)
        func pick(_ s: [Sample]) -> [Sample] { Array(seededOrder(s, seed).prefix(n)) }
        return Dataset(samples: (pick(real) + pick(fake)).sorted { $0.id < $1.id })
    }

    /// Per-sample weights that give both classes equal total weight (for a weighted loss instead of subsampling).
    public func classWeights() -> [Double] {
        let nf = Double(samples.filter { $0.label == .fake }.count), nr = Double(samples.count) - nf
        return samples.map { $0.label == .fake ? Double(samples.count) / (2 * max(nf, 1)) : Double(samples.count) / (2 * max(nr, 1)) }
    }
}

/// Samples in a seeded pseudo-random order that depends only on their ids (each hash computed once).
func seededOrder(_ samples: [Sample], _ seed: UInt64) -> [Sample] {
    samples.map { (stableHash($0.id, seed), $0) }.sorted { $0.0 < $1.0 }.map(\.1)
}

/// FNV-1a of the id mixed with the seed: stable across runs and platforms (unlike Swift's Hasher).
public func stableHash(_ s: String, _ seed: UInt64) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325 ^ (seed &* 0x9E37_79B9_7F4A_7C15)
    for b in s.utf8 {
        h ^= UInt64(b)
        h = h &* 0x0000_0100_0000_01B3
    }
    h ^= h >> 33
    h = h &* 0xFF51_AFD7_ED55_8CCD
    return h ^ (h >> 33)
}

/// Reads a sample's bytes (file or tar member), keeping opened tars.
public final class SampleReader: @unchecked Sendable {
    private var tars: [String: TarArchive] = [:]
    private let lock = NSLock()
    public init() {}
    public func bytes(_ s: Sample) throws -> [UInt8] {
        switch s.source {
        case .file(let p):
            guard let d = FileManager.default.contents(atPath: p) else { throw DatasetError.unreadable(path: p, reason: "cannot read") }
            return [UInt8](d)
        case .tarMember(let t, let m):
            let tar: TarArchive = try lock.withLock {
                if let a = tars[t] { return a }
                let a = try TarArchive(path: t)
                tars[t] = a
                return a
            }
            return try tar.read(m)
        }
    }
    public func image(_ s: Sample, decoder: ImageDecoder = ImageDecoder()) throws -> Image {
        try decoder.decode(data: bytes(s), name: s.id).image
    }
}
