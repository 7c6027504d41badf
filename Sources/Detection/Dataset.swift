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

/// One part of a train / validation / test split.
public enum SplitPart: String, Sendable, Codable, CaseIterable {
    case train, validation, test
}

public struct Sample: Sendable, Hashable {
    public let source: SampleSource
    public let label: Label
    public let generator: String
    /// A stable identifier used for splitting and leak checks: "<tar>:<member>" for tar members, "<folder>:<path below
    /// it>" for folder sets, whatever spelling of the path was used to load them (`toy`, `./toy`, `/abs/toy` agree).
    public let id: String
    /// The split group: samples that share it always land in the same split (one prompt rendered by several
    /// generators, copies of one original file in several sets, near-duplicate clusters). nil: a group of its own.
    public var group: String?
    /// A split the sample is pinned to (a manifest's `split` column); its whole group follows it.
    public var pinnedSplit: SplitPart?
    /// From the set's manifest where it has one: `photo` / `art`, the source repository, and the original file.
    public var content: String?
    public var repository: String?
    public var origin: String?

    public init(source: SampleSource, label: Label, generator: String, id: String? = nil) {
        self.source = source
        self.label = label
        self.generator = generator
        switch source {
        case .file(let p): self.id = id ?? p
        case .tarMember(let t, let m): self.id = id ?? "\((t as NSString).lastPathComponent):\(m)"
        }
    }

    /// The group key used by the split: the group, else the id.
    public var splitKey: String { group ?? id }
}

/// A labelled set of images laid out `<label>/<generator>/...` (label real|fake), from folders, tar files
/// or a CSV manifest (columns `path,label,generator`, plus `tar` for tar members as in ../shared/data).
public struct Dataset: Sendable {
    public var samples: [Sample]
    public init(samples: [Sample]) { self.samples = samples }

    /// Every image below `root` whose path (relative to root, or to the tar) starts with `<label>/<generator>/`.
    ///
    /// Several sets load as one with commas (`a.tar,b.tar`); their samples are then grouped together, so a file
    /// that two sets share (the same original, or a near-duplicate) never straddles a split. Every load annotates
    /// the split groups (`annotatedGroups`), so any trainer, probe, study or evaluation splits the same way.
    public static func load(_ root: String, nearDuplicates: Bool = true) throws -> Dataset {
        var parts = [root]
        if root.contains(",") && !FileManager.default.fileExists(atPath: root) { parts = root.split(separator: ",").map(String.init) }
        var samples: [Sample] = [], grouped = true
        for p in parts {
            let (d, alreadyGrouped) = try loadOne(p)
            samples += d.samples
            grouped = grouped && alreadyGrouped
        }
        guard Set(samples.map(\.id)).count == samples.count else {
            throw DatasetError.badLayout(path: root, reason: "the same sample id appears twice (the same set given twice?)")
        }
        // A manifest aidetect wrote (a `grouping` column) is already grouped: no need to hash its images again.
        return try Dataset(samples: samples).annotatedGroups(nearDuplicates: nearDuplicates && !grouped)
    }

    /// One set, and whether it arrives already grouped (a manifest with a `group` column).
    static func loadOne(_ root: String) throws -> (Dataset, Bool) {
        if root.hasSuffix(".csv") { return try fromManifest(root) }
        var d: Dataset
        if root.hasSuffix(".tar") { d = try fromTar(root) }
        else if root.hasSuffix(".tar.gz") || root.hasSuffix(".tgz") {
            // Ids name the set as given ("cifar10.tar:..."), not the decompressed copy (whose name holds size and time).
            var base = (root as NSString).lastPathComponent
            base = base.hasSuffix(".gz") ? String(base.dropLast(3)) : String(base.dropLast(4)) + ".tar"
            d = try fromTar(try decompressedTar(root), idName: base)
        }
        else { return (try fromFolder(root), false) }
        d.attachSidecarMetadata(original: root)
        return (d, false)
    }

    /// The file or folder names of the sets in a `--data` value ("a/b.tar,c.tar" -> "b.tar,c.tar"), as model files
    /// record them (`aidetect.training_data`).
    public static func setNames(_ data: String) -> String {
        data.split(separator: ",").map { (String($0).trimmingCharacters(in: .whitespaces) as NSString).lastPathComponent }.joined(separator: ",")
    }

    /// The cache folder for derived data: $AIDETECT_CACHE, else `.cache` in the working directory.
    public static var cacheDirectory: String {
        ProcessInfo.processInfo.environment["AIDETECT_CACHE"] ?? FileManager.default.currentDirectoryPath + "/.cache"
    }

    /// A gzipped tar, decompressed once into `cacheDirectory/data` (keyed by name, size and modification time)
    /// so that its members can be read in place like any tar.
    public static func decompressedTar(_ path: String) throws -> String {
        let base = URL(fileURLWithPath: path).lastPathComponent.replacingOccurrences(of: ".tar.gz", with: "").replacingOccurrences(of: ".tgz", with: "")
        return try decompressed(path, name: { "\(base)-\($0).tar" })
    }

    /// "size-mtime" of a file, the part of a cache key that changes when the file does; nil when it cannot be read.
    static func fileStamp(_ path: String) -> String? {
        guard let a = try? FileManager.default.attributesOfItem(atPath: path), let size = a[.size] as? Int else { return nil }
        return "\(size)-\(Int((a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0))"
    }

    /// A gzipped file decompressed once into `cacheDirectory/data`, under `name(fileStamp)`.
    static func decompressed(_ path: String, name: (String) -> String) throws -> String {
        guard let stamp = fileStamp(path) else { throw DatasetError.unreadable(path: path, reason: "cannot read the file") }
        let dir = cacheDirectory + "/data"
        let out = "\(dir)/\(name(stamp))"
        if FileManager.default.fileExists(atPath: out) { return out }
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
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
        // The folder's own name, however the path was spelled ("toy", "./toy/", "/abs/toy").
        let name = URL(fileURLWithPath: root).standardizedFileURL.lastPathComponent
        var s: [Sample] = []
        while let rel = e.nextObject() as? String {
            if let (l, g) = labelled(rel) {
                s.append(Sample(source: .file((root as NSString).appendingPathComponent(rel)), label: l, generator: g, id: "\(name):\(rel)"))
            }
        }
        guard !s.isEmpty else { throw DatasetError.badLayout(path: root, reason: "no images under <real|fake>/<generator>/") }
        return Dataset(samples: s.sorted { $0.id < $1.id })
    }

    public static func fromTar(_ path: String, idName: String? = nil) throws -> Dataset {
        let tar = try TarArchive(path: path)
        let s = tar.names.compactMap { n in
            labelled(n).map { Sample(source: .tarMember(tar: path, member: n), label: $0.0, generator: $0.1, id: idName.map { "\($0):\(n)" }) }
        }
        guard !s.isEmpty else { throw DatasetError.badLayout(path: path, reason: "no members under <real|fake>/<generator>/") }
        return Dataset(samples: s.sorted { $0.id < $1.id })
    }

    /// A CSV manifest: `path,label,generator[,tar]` columns by header name; paths relative to the CSV's folder.
    /// Optional columns: `id` (the sample id; default "<tar>:<member>" or the path as written), `group` (split
    /// group), `split` (train / validation / test: pins the sample and its group), `content`, `source_repo`, and
    /// `grouping` (written by aidetect: the groups are complete, near-duplicates included).
    public static func fromManifest(_ path: String) throws -> (Dataset, grouped: Bool) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw DatasetError.unreadable(path: path, reason: "cannot read") }
        var lines = text.split(whereSeparator: \.isNewline).map(String.init)
        guard !lines.isEmpty else { throw DatasetError.empty(path) }
        let header = csvFields(lines.removeFirst()).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let pi = header.firstIndex(of: "path"), let li = header.firstIndex(of: "label") else {
            throw DatasetError.badLayout(path: path, reason: "manifest needs path and label columns")
        }
        func column(_ n: String) -> Int? { header.firstIndex(of: n) }
        let gi = column("generator"), ti = column("tar"), ii = column("id"), gri = column("group"), si = column("split")
        let ci = column("content"), ri = column("source_repo")
        let base = (path as NSString).deletingLastPathComponent
        func resolve(_ p: String) -> String { p.hasPrefix("/") ? p : (base as NSString).appendingPathComponent(p) }
        var s: [Sample] = []
        for (n, line) in lines.enumerated() {
            let f = csvFields(line)
            guard f.count == header.count, let l = Label(folder: f[li]) else {
                throw DatasetError.badLayout(path: path, reason: "line \(n + 2) is malformed")
            }
            func value(_ i: Int?) -> String? { i.flatMap { f[$0].isEmpty ? nil : f[$0] } }
            let g = value(gi) ?? "unknown"
            var sample: Sample
            if let t = value(ti) {
                sample = Sample(source: .tarMember(tar: resolve(t), member: f[pi]), label: l, generator: g, id: value(ii))
            } else {
                // Without an id column a file's id is its path as written: the same however the manifest is reached.
                sample = Sample(source: .file(resolve(f[pi])), label: l, generator: g, id: value(ii) ?? f[pi])
            }
            sample.group = value(gri)
            if let p = value(si) {
                guard let part = SplitPart(rawValue: p) else {
                    throw DatasetError.badLayout(path: path, reason: "line \(n + 2): split must be train, validation or test, not '\(p)'")
                }
                sample.pinnedSplit = part
            }
            sample.content = value(ci)
            sample.repository = value(ri)
            s.append(sample)
        }
        return (Dataset(samples: s), column("grouping") != nil)
    }

    /// One CSV field, quoted when it holds a comma or a quote (the writer's side of `csvFields`).
    public static func csvField(_ s: String) -> String {
        s.contains(",") || s.contains("\"") || s.contains("\n") || s.contains("\r")
            ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    public static func csvFields(_ line: String) -> [String] {
        var out: [String] = [], cur = "", quoted = false
        var it = Array(line).makeIterator()
        var previousWasClosingQuote = false
        while let c = it.next() {
            if c == "\"" {
                // A doubled quote inside a quoted field is a literal quote.
                if !quoted && previousWasClosingQuote { cur.append("\""); quoted = true; previousWasClosingQuote = false; continue }
                quoted.toggle()
                previousWasClosingQuote = !quoted
                continue
            }
            previousWasClosingQuote = false
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

    /// Deterministic, stratified and group-aware split. Samples that share a split key (`Sample.splitKey`: a prompt, an
    /// original file, a near-duplicate cluster) always land in the same part; a pinned sample takes its whole group
    /// with it. Groups are visited in a seeded order that depends only on their keys, and each goes to the part
    /// furthest below its target share in the (label, generator, content) strata of its members, so every stratum is cut
    /// close to the fractions. The same seed gives the same split; no sample is in two parts.
    public func split(train: Double, validation: Double, seed: UInt64 = 0) -> (train: Dataset, validation: Dataset, test: Dataset) {
        precondition(train >= 0 && validation >= 0 && train + validation <= 1, "split: fractions must be in [0, 1] and sum to at most 1")
        let fractions = [train, validation, 1 - train - validation]
        // Content (photo / art, where the manifest gives it) too: a set balanced by content stays balanced in every part.
        func stratum(_ s: Sample) -> String { "\(s.label)/\(s.generator)/\(s.content ?? "")" }
        let strataSize = samples.reduce(into: [String: Int]()) { $0[stratum($1), default: 0] += 1 }
        var filled: [String: [Int]] = strataSize.mapValues { _ in [0, 0, 0] }
        let groups = Dictionary(grouping: samples.indices) { samples[$0].splitKey }
        let order = groups.keys.map { ($0, stableHash($0, seed)) }.sorted { ($0.1, $0.0) < ($1.1, $1.0) }.map(\.0)
        var part = [Int](repeating: 0, count: samples.count)
        for key in order {
            let members = groups[key]!
            var choice: Int
            if let pin = members.lazy.compactMap({ self.samples[$0].pinnedSplit }).first {
                choice = SplitPart.allCases.firstIndex(of: pin)!
            } else {
                // Deficit of each part: target minus filled, summed over the members' strata (ties: train first).
                var best = 0, bestDeficit = -Double.infinity
                for p in 0..<3 where fractions[p] > 0 {
                    var deficit = 0.0
                    for i in members {
                        let k = stratum(samples[i])
                        deficit += fractions[p] * Double(strataSize[k]!) - Double(filled[k]![p])
                    }
                    if deficit > bestDeficit + 1e-9 { best = p; bestDeficit = deficit }
                }
                choice = best
            }
            for i in members {
                part[i] = choice
                filled[stratum(samples[i])]![choice] += 1
            }
        }
        func take(_ p: Int) -> Dataset { Dataset(samples: samples.indices.filter { part[$0] == p }.map { samples[$0] }) }
        return (take(0), take(1), take(2))
    }

    /// The split every trainer, probe and evaluation in aidetect uses: 70 % train, 15 % validation, 15 % test,
    /// stratified and seeded (`split(train:validation:seed:)`). A model trained on a set with seed s is only
    /// judged fairly on `standardSplit(seed: s).test` of that same set.
    public static let trainFraction = 0.7, validationFraction = 0.15
    /// Recorded in every model file a trainer writes (`aidetect.split`), so `eval` can tell a model trained with this
    /// split from one trained with the ungrouped split of earlier versions.
    public static let splitVersion = "grouped-v1"
    public func standardSplit(seed: UInt64 = 0) -> (train: Dataset, validation: Dataset, test: Dataset) {
        split(train: Self.trainFraction, validation: Self.validationFraction, seed: seed)
    }

    /// Writes this set as a manifest CSV (path,label,generator,tar,id,group,split,content,source_repo; absolute paths
    /// and tar members) that `Dataset.load` and `Trainer` read like any data set. Ids and groups are kept, so the
    /// manifest splits exactly like the samples it came from; `pinning` pins samples to a split part.
    public func writeManifest(to path: String, pinning: [String: SplitPart] = [:]) throws {
        // Relative paths (to the working directory) become absolute: the manifest resolves relative ones to its own folder.
        let cwd = FileManager.default.currentDirectoryPath
        func absolute(_ p: String) -> String { p.hasPrefix("/") ? p : (cwd as NSString).appendingPathComponent(p) }
        // `grouping` says the groups were already found (near-duplicates included), so loading needs no re-hashing.
        var csv = "path,label,generator,tar,id,group,split,content,source_repo,grouping\n"
        for s in samples {
            let rest = [s.id, s.group ?? "", (pinning[s.id] ?? s.pinnedSplit)?.rawValue ?? "", s.content ?? "", s.repository ?? "", Self.splitVersion]
                .map(Self.csvField).joined(separator: ",")
            switch s.source {
            case .file(let p): csv += "\(Self.csvField(absolute(p))),\(s.label),\(Self.csvField(s.generator)),,\(rest)\n"
            case .tarMember(let t, let m): csv += "\(Self.csvField(m)),\(s.label),\(Self.csvField(s.generator)),\(Self.csvField(absolute(t))),\(rest)\n"
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
