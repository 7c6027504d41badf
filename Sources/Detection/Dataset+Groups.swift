import Foundation
import Imaging

/// Split groups: what must never straddle train / validation / test.
///
/// A group joins samples that share
/// - a prompt: a file named `<prompt>__<rest>` (bench256 keeps the `dcsan/imagen` prompt folder that way, and the
///   same prompt is rendered by six to nine generators);
/// - an original: the same source file (`source_repo` + original path in the set's manifest), e.g. the FFHQ faces
///   that both bench256 and wild-train hold;
/// - a near-duplicate cluster: a 256-bit difference hash within `nearDuplicateBits` (re-compressed, resized or
///   slightly cropped copies);
/// - an explicit `group` column of a CSV manifest.
/// Connected samples form one group (union-find), named by its smallest key. Face identities are not known for
/// any set here (FFHQ and thispersondoesnotexist carry no identity labels), so they cannot be grouped.
extension Dataset {
    /// At most this many differing bits of 256 make two images near-duplicates.
    public static let nearDuplicateBits = 12
    /// Larger near-duplicate clusters are not grouped (see `annotatedGroups`).
    public static let maxNearDuplicateCluster = 8

    /// This set with `Sample.group` filled in from prompts, originals, explicit groups and (optionally) near-duplicates.
    public func annotatedGroups(nearDuplicates: Bool = true) throws -> Dataset {
        var parent = Array(samples.indices)
        func find(_ i: Int) -> Int {
            var i = i
            while parent[i] != i { parent[i] = parent[parent[i]]; i = parent[i] }
            return i
        }
        func union(_ a: Int, _ b: Int) { let (ra, rb) = (find(a), find(b)); if ra != rb { parent[max(ra, rb)] = min(ra, rb) } }
        var keys = [[String]](repeating: [], count: samples.count)
        var firstWithKey: [String: Int] = [:]
        func join(_ i: Int, _ key: String) {
            keys[i].append(key)
            if let j = firstWithKey[key] { union(i, j) } else { firstWithKey[key] = i }
        }
        for (i, s) in samples.enumerated() {
            if let g = s.group { join(i, g) }
            if let p = Self.promptKey(s) { join(i, "prompt:" + p) }
            if let o = s.origin { join(i, "origin:" + o) }
        }
        if nearDuplicates {
            // Near-duplicate clusters of more than `maxNearDuplicateCluster` images are a shared template or style
            // (chained by similar hashes), not copies of one image: those are left ungrouped.
            let pairs = Self.nearDuplicatePairs(Self.perceptualHashes(samples), maxBits: Self.nearDuplicateBits)
            var dup = Array(samples.indices)
            func root(_ i: Int) -> Int { var i = i; while dup[i] != i { dup[i] = dup[dup[i]]; i = dup[i] }; return i }
            for (a, b) in pairs { let (ra, rb) = (root(a), root(b)); if ra != rb { dup[max(ra, rb)] = min(ra, rb) } }
            var members: [Int: Int] = [:]
            for i in samples.indices { members[root(i), default: 0] += 1 }
            for (a, b) in pairs where members[root(a)]! <= Self.maxNearDuplicateCluster {
                union(a, b)
                keys[a].append("near-duplicate:" + samples[root(a)].id)
            }
        }
        let components = Dictionary(grouping: samples.indices, by: find)
        var out = samples
        for members in components.values {
            let named = members.flatMap { keys[$0] }
            guard members.count > 1 || !named.isEmpty else { continue }
            // Named by the strongest reason: a prompt, then an original file, then an explicit group, then a near-duplicate.
            func rank(_ k: String) -> Int { k.hasPrefix("prompt:") ? 0 : k.hasPrefix("origin:") ? 1 : k.hasPrefix("near-duplicate:") ? 3 : 2 }
            let name = named.min { (rank($0), $0) < (rank($1), $1) } ?? "near-duplicate:" + members.map { samples[$0].id }.min()!
            for i in members { out[i].group = name }
        }
        return Dataset(samples: out)
    }

    /// The prompt of a file named `<prompt>__<rest>`.
    static func promptKey(_ s: Sample) -> String? {
        let name: String
        switch s.source {
        case .file(let p): name = (p as NSString).lastPathComponent
        case .tarMember(_, let m): name = (m as NSString).lastPathComponent
        }
        guard let r = name.range(of: "__"), r.lowerBound > name.startIndex else { return nil }
        return String(name[..<r.lowerBound])
    }

    // MARK: Sidecar metadata

    /// Content, source repository and original file of a tar's members, from the manifest beside it:
    /// `<name>-manifest.csv.gz` (own manifest, e.g. wild-train) or `manifest.csv.gz` rows whose `tar` is this tar
    /// (as in ../shared/data). Missing or unreadable manifests leave the samples as they are.
    mutating func attachSidecarMetadata(original path: String) {
        let dir = (path as NSString).deletingLastPathComponent
        var base = (path as NSString).lastPathComponent
        for suffix in [".gz", ".tgz"] where base.hasSuffix(suffix) { base = String(base.dropLast(suffix.count)) }
        let stem = base.hasSuffix(".tar") ? String(base.dropLast(4)) : base
        let candidates = [(dir as NSString).appendingPathComponent("\(stem)-manifest.csv.gz"), (dir as NSString).appendingPathComponent("manifest.csv.gz")]
        for m in candidates where FileManager.default.fileExists(atPath: m) {
            guard let rows = Self.readManifestRows(m) else { continue }
            var byMember: [String: [String: String]] = [:]
            for r in rows where r["tar"] == nil || r["tar"] == base { if let p = r["path"] { byMember[p] = r } }
            guard !byMember.isEmpty else { continue }
            for i in samples.indices {
                guard case .tarMember(_, let member) = samples[i].source, let r = byMember[member] else { continue }
                samples[i].content = r["content"].flatMap { $0.isEmpty ? nil : $0 }
                samples[i].repository = r["source_repo"].flatMap { $0.isEmpty ? nil : $0 }
                if let repo = samples[i].repository, let orig = r["source_path"] ?? r["original_path"], !orig.isEmpty {
                    samples[i].origin = repo + "/" + orig
                }
            }
            return
        }
    }

    /// A (gzipped) CSV's rows as column -> value.
    static func readManifestRows(_ path: String) -> [[String: String]]? {
        var file = path
        if path.hasSuffix(".gz") {
            guard let a = try? FileManager.default.attributesOfItem(atPath: path), let size = a[.size] as? Int else { return nil }
            let mtime = Int((a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)
            let dir = cacheDirectory + "/data"
            file = "\(dir)/\((path as NSString).lastPathComponent.dropLast(3))-\(size)-\(mtime)"
            if !FileManager.default.fileExists(atPath: file) {
                do {
                    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                    try Gzip.decompress(file: path, to: file)
                } catch { return nil }
            }
        }
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        var lines = text.split(whereSeparator: \.isNewline).map(String.init)
        guard !lines.isEmpty else { return nil }
        let header = csvFields(lines.removeFirst())
        return lines.compactMap { line in
            let f = csvFields(line)
            guard f.count == header.count else { return nil }
            return Dictionary(zip(header, f), uniquingKeysWith: { a, _ in a })
        }
    }

    // MARK: Near-duplicates

    /// A 256-bit difference hash per sample (nil when unreadable or nearly flat, where the hash is noise): the
    /// centre square at 17 x 16 grey levels, one bit per horizontal neighbour pair. Cached per tar on disk.
    static func perceptualHashes(_ samples: [Sample]) -> [[UInt64]?] {
        var cache: [String: [String: [UInt64]]] = [:]   // cache file -> member -> hash ([] = none)
        var cachePathOf: [Int: String] = [:]
        func stamp(_ path: String) -> String? {
            guard let a = try? FileManager.default.attributesOfItem(atPath: path), let size = a[.size] as? Int else { return nil }
            return "\(size)-\(Int((a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0))"
        }
        // Tar members: one cache file per tar (name, size, mtime). Loose files: one cache file for this list of files
        // with their sizes and modification times (any change recomputes them).
        var fileKey: UInt64 = 0xA1D, files: [Int] = []
        for (i, s) in samples.enumerated() {
            switch s.source {
            case .tarMember(let t, _):
                guard let st = stamp(t) else { continue }
                cachePathOf[i] = "\(cacheDirectory)/phash/\((t as NSString).lastPathComponent)-\(st).json"
            case .file(let p):
                guard let st = stamp(p) else { continue }
                fileKey = stableHash(p + "|" + st, fileKey)
                files.append(i)
            }
        }
        for i in files { cachePathOf[i] = "\(cacheDirectory)/phash/files-\(String(fileKey, radix: 16)).json" }
        for p in Set(cachePathOf.values) {
            cache[p] = FileManager.default.contents(atPath: p).flatMap { try? JSONDecoder().decode([String: [UInt64]].self, from: $0) } ?? [:]
        }
        func member(_ s: Sample) -> String {
            switch s.source { case .tarMember(_, let m): return m; case .file(let p): return p }
        }
        var result = [[UInt64]?](repeating: nil, count: samples.count)
        var todo: [Int] = []
        for i in samples.indices {
            if let p = cachePathOf[i], let h = cache[p]?[member(samples[i])] { result[i] = h.isEmpty ? nil : h } else { todo.append(i) }
        }
        if !todo.isEmpty {
            let reader = SampleReader(), decoder = ImageDecoder()
            let out = LockedBox([[UInt64]?](repeating: nil, count: samples.count))
            let work = todo
            let chunks = max(1, min(work.count, ProcessInfo.processInfo.activeProcessorCount * 4))
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                for k in stride(from: c, to: work.count, by: chunks) {
                    let i = work[k]
                    let h = (try? decoder.decode(data: reader.bytes(samples[i]), name: samples[i].id).image).flatMap(differenceHash)
                    out.withLock { $0[i] = h }
                }
            }
            for i in todo { result[i] = out.withLock { $0[i] } }
            var dirty = Set<String>()
            for i in todo { if let p = cachePathOf[i] { cache[p]![member(samples[i])] = result[i] ?? []; dirty.insert(p) } }
            for p in dirty {
                try? FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try? JSONEncoder().encode(cache[p]!).write(to: URL(fileURLWithPath: p), options: .atomic)
            }
        }
        return result
    }

    /// 256-bit difference hash of the centre square: 17 x 16 grey cells, each the mean of up to 4 x 4 pixels spread
    /// over the cell (cheap at any image size); nil for nearly flat images.
    public static func differenceHash(_ image: Image) -> [UInt64]? {
        let side = min(image.width, image.height)
        guard side >= 17 else { return nil }
        let x0 = (image.width - side) / 2, y0 = (image.height - side) / 2
        var grey = [Double](repeating: 0, count: 17 * 16)
        for cy in 0..<16 {
            for cx in 0..<17 {
                var sum = 0.0, n = 0.0
                for sy in 0..<4 {
                    let y = y0 + (cy * 4 + sy) * side / 64
                    for sx in 0..<4 {
                        let x = x0 + (cx * 4 + sx) * side / 68
                        let p = image[x, y]
                        sum += 0.299 * Double(p.r) + 0.587 * Double(p.g) + 0.114 * Double(p.b)
                        n += 1
                    }
                }
                grey[cy * 17 + cx] = sum / n
            }
        }
        var words = [UInt64](repeating: 0, count: 4), energy = 0.0
        for y in 0..<16 {
            for x in 0..<16 {
                let d = grey[y * 17 + x + 1] - grey[y * 17 + x]
                energy += abs(d)
                if d > 0 { let bit = y * 16 + x; words[bit / 64] |= 1 << UInt64(bit % 64) }
            }
        }
        return energy / 256 < 1.5 ? nil : words
    }

    /// Index pairs whose hashes differ in at most `maxBits` bits (all pairs compared; popcount is cheap).
    static func nearDuplicatePairs(_ hashes: [[UInt64]?], maxBits: Int) -> [(Int, Int)] {
        let valid = hashes.indices.filter { hashes[$0] != nil }
        let flat = valid.map { hashes[$0]! }
        let found = LockedBox([(Int, Int)]())
        let n = flat.count
        DispatchQueue.concurrentPerform(iterations: max(1, min(n, 64))) { c in
            var local: [(Int, Int)] = []
            for a in stride(from: c, to: n, by: max(1, min(n, 64))) {
                let ha = flat[a]
                for b in (a + 1)..<max(a + 1, n) {
                    let hb = flat[b]
                    let d = (ha[0] ^ hb[0]).nonzeroBitCount + (ha[1] ^ hb[1]).nonzeroBitCount
                        + (ha[2] ^ hb[2]).nonzeroBitCount + (ha[3] ^ hb[3]).nonzeroBitCount
                    if d <= maxBits { local.append((valid[a], valid[b])) }
                }
            }
            found.withLock { $0 += local }
        }
        return found.withLock { $0 }.sorted { ($0.0, $0.1) < ($1.0, $1.1) }
    }
}

/// A value shared between threads behind a lock.
final class LockedBox<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) -> R) -> R { lock.lock(); defer { lock.unlock() }; return body(&value) }
}

/// What a split holds: images per (label, generator) in each part, and the groups that kept images together.
public struct SplitSummary: Sendable, Codable {
    public struct Row: Sendable, Codable { public var stratum: String, train: Int, validation: Int, test: Int }
    public var seed: UInt64
    public var rows: [Row]
    /// Groups of more than one image, by kind (prompt, origin, near-duplicate, other), and the images in them.
    public var groups: [String: Int]
    public var groupedImages: [String: Int]

    public func markdown() -> String {
        var s = "| label/generator | train | validation | test |\n|---|---:|---:|---:|\n"
        for r in rows { s += "| \(r.stratum) | \(r.train) | \(r.validation) | \(r.test) |\n" }
        let t = rows.reduce((0, 0, 0)) { ($0.0 + $1.train, $0.1 + $1.validation, $0.2 + $1.test) }
        s += "| **all** | \(t.0) | \(t.1) | \(t.2) |\n\n"
        s += "Split seed \(seed). Groups kept whole: " + (groups.isEmpty ? "none" : groups.keys.sorted().map { "\($0) \(groups[$0]!) (\(groupedImages[$0]!) images)" }.joined(separator: ", ")) + ".\n"
        return s
    }
}

extension Dataset {
    /// Each sample's part of `standardSplit(seed:)`, by id: pinned in a manifest (`writeManifest(to:pinning:)`),
    /// a subset of the set splits exactly as it did inside the whole set.
    public func standardSplitPins(seed: UInt64 = 0) -> [String: SplitPart] {
        let (tr, va, te) = standardSplit(seed: seed)
        var pins: [String: SplitPart] = [:]
        for (part, d) in [(SplitPart.train, tr), (.validation, va), (.test, te)] { for s in d.samples { pins[s.id] = part } }
        return pins
    }

    /// The standard split of this set with `seed`, summarised.
    public func splitSummary(seed: UInt64 = 0) -> SplitSummary {
        let (tr, va, te) = standardSplit(seed: seed)
        func counts(_ d: Dataset) -> [String: Int] { d.samples.reduce(into: [:]) { $0["\($1.label)/\($1.generator)", default: 0] += 1 } }
        let (a, b, c) = (counts(tr), counts(va), counts(te))
        let strata = Set(a.keys).union(b.keys).union(c.keys).sorted()
        let rows = strata.map { SplitSummary.Row(stratum: $0, train: a[$0] ?? 0, validation: b[$0] ?? 0, test: c[$0] ?? 0) }
        var groups: [String: Int] = [:], images: [String: Int] = [:]
        for (key, members) in Dictionary(grouping: samples.filter { $0.group != nil }, by: { $0.group! }) where members.count > 1 {
            let kind = ["prompt", "origin", "near-duplicate"].first { key.hasPrefix($0 + ":") } ?? "other"
            groups[kind, default: 0] += 1
            images[kind, default: 0] += members.count
        }
        return SplitSummary(seed: seed, rows: rows, groups: groups, groupedImages: images)
    }
}
