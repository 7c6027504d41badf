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
                keys[a].append("near-duplicate:")
                keys[b].append("near-duplicate:")
            }
        }
        // Only images that share something form a group; each group is named by the strongest reason its members
        // share (a prompt, then an original file, then an explicit group, then a near-duplicate) and its smallest
        // id, so the name, and with it the split, depends on neither the order of the samples nor on which keys a
        // lone image happens to carry (a manifest that could not be read changes nothing for it).
        func kind(_ k: String) -> String {
            ["prompt", "origin", "near-duplicate"].first { k.hasPrefix($0 + ":") } ?? "group"
        }
        let rank = ["prompt": 0, "origin": 1, "group": 2, "near-duplicate": 3]
        let components = Dictionary(grouping: samples.indices, by: find)
        var out = samples
        for i in out.indices { out[i].group = nil }
        for members in components.values where members.count > 1 {
            var counts: [String: Int] = [:]
            for i in members { for k in Set(keys[i]) { counts[k, default: 0] += 1 } }
            let reason = counts.filter { $0.value > 1 }.keys.map(kind).min { rank[$0]! < rank[$1]! } ?? "group"
            let name = reason + ":" + members.map { samples[$0].id }.min()!
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
        // At least 12 characters before the "__" (bench256's prompt slugs end in an 8-digit id), so that camera
        // names such as IMG__0001.jpg do not turn a whole folder into one group.
        guard let r = name.range(of: "__"), name.distance(from: name.startIndex, to: r.lowerBound) >= 12 else { return nil }
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
                    // Different tiles of one original (grid samples, collage quarters) are different images.
                    let first = r["processing"]?.split(separator: ",").first.map(String.init) ?? ""
                    samples[i].origin = repo + "/" + orig + (first.contains("tile") ? "#" + first : "")
                }
            }
            return
        }
    }

    /// A (gzipped) CSV's rows as column -> value.
    static func readManifestRows(_ path: String) -> [[String: String]]? {
        let base = (path as NSString).lastPathComponent
        guard let file = path.hasSuffix(".gz") ? try? decompressed(path, name: { "\(base.dropLast(3))-\($0)" }) : path else { return nil }
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
        // Tar members: one cache file per tar (name, size, mtime). Loose files: one cache file for this list of files
        // with their sizes and modification times (any change recomputes them).
        var fileKey: UInt64 = 0xA1D, files: [Int] = []
        for (i, s) in samples.enumerated() {
            switch s.source {
            case .tarMember(let t, _):
                guard let st = fileStamp(t) else { continue }
                cachePathOf[i] = "\(cacheDirectory)/phash/\((t as NSString).lastPathComponent)-\(st).json"
            case .file(let p):
                guard let st = fileStamp(p) else { continue }
                fileKey = stableHash(URL(fileURLWithPath: p).standardizedFileURL.path + "|" + st, fileKey)
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

    /// Index pairs whose hashes differ in at most `maxBits` (< 13) bits. The 256 bits are cut into 13 chunks, so two
    /// such hashes agree exactly on at least one chunk: only images sharing a chunk are compared (each pair once, at
    /// its first shared chunk). A chunk value shared by more than `maxBucket` images (a flat or template-like
    /// region) is not used to find pairs, which keeps the work near-linear in the number of images.
    static func nearDuplicatePairs(_ hashes: [[UInt64]?], maxBits: Int, maxBucket: Int = 2000) -> [(Int, Int)] {
        precondition(maxBits < 13, "nearDuplicatePairs: the chunk index needs fewer than 13 differing bits")
        let valid = hashes.indices.filter { hashes[$0] != nil }
        var flat = [UInt64](repeating: 0, count: valid.count * 4)
        for (k, i) in valid.enumerated() { for w in 0..<4 { flat[k * 4 + w] = hashes[i]![w] } }
        func bits(_ k: Int, _ from: Int, _ count: Int) -> UInt64 {
            var v: UInt64 = 0
            for b in from..<(from + count) where flat[k * 4 + b / 64] >> UInt64(b % 64) & 1 == 1 { v |= 1 << UInt64(b - from) }
            return v
        }
        let chunks: [(Int, Int)] = (0..<13).map { c in (c * 20, c == 12 ? 16 : 20) }
        var chunkValues = [[UInt64]](repeating: [], count: chunks.count)
        for (c, (from, count)) in chunks.enumerated() { chunkValues[c] = (0..<valid.count).map { bits($0, from, count) } }
        var pairs: [(Int, Int)] = []
        let buckets = chunks.indices.map { c in Dictionary(grouping: 0..<valid.count, by: { chunkValues[c][$0] }) }
        func used(_ c: Int, _ v: UInt64) -> Bool { (buckets[c][v]?.count ?? 0) <= maxBucket }
        for c in chunks.indices {
            for members in buckets[c].values where members.count > 1 && members.count <= maxBucket {
                for x in 0..<members.count {
                    for y in (x + 1)..<members.count {
                        let (a, b) = (members[x], members[y])
                        // Compared already at an earlier shared chunk (unless that chunk's bucket was too large to use).
                        if (0..<c).contains(where: { chunkValues[$0][a] == chunkValues[$0][b] && used($0, chunkValues[$0][a]) }) { continue }
                        var d = 0
                        for w in 0..<4 { d += (flat[a * 4 + w] ^ flat[b * 4 + w]).nonzeroBitCount }
                        if d <= maxBits { pairs.append((min(valid[a], valid[b]), max(valid[a], valid[b]))) }
                    }
                }
            }
        }
        return pairs.sorted { ($0.0, $0.1) < ($1.0, $1.1) }
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
