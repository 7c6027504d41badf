import Detection
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Imaging

/// A scan that keeps a journal (`ScanJournal`) and/or does one shard of the files: what `aidetect scan --journal
/// FILE [--resume] [--shard i/N]` runs. Files already in the journal unchanged are not scored again (their recorded
/// result is handed out, so a resumed scan's output is the whole scan's); files whose bytes were scored under
/// another path reuse that result; new outcomes are committed every half second.
public struct JournaledScan {
    public var scanner: Detection.Scanner
    public let journal: ScanJournal?
    public let shard: Shard
    /// Files taken from the journal (resumed), files whose identical bytes were scored before, files of other shards.
    public private(set) var resumed = 0, reused = 0, otherShards = 0

    public init(scanner: Detection.Scanner, journal: ScanJournal?, shard: Shard = .whole) {
        self.scanner = scanner
        self.journal = journal
        self.shard = shard
    }

    /// A string that identifies the models (display names and a digest of each file), stored in the journal so that
    /// a resume with other models is refused.
    public static func modelIdentity(_ detectors: [Detector]) -> String {
        zip(Detector.displayNames(detectors), detectors).map { name, d in
            "\(name)@\((try? ContentDigest.file(path: d.path)) ?? "?")"
        }.joined(separator: ",")
    }

    /// Counts the files of `paths` this shard will hand out (for an ETA), without reading them.
    public func count(_ paths: [String]) -> Int {
        var walker = scanner
        var n = 0
        for p in paths {
            walker.walkFiles(p) { found in
                if case .file(let f) = found, !shard.contains(f) { return }
                n += 1
            }
        }
        return n
    }

    /// Scans `paths`, calling `handle` with each result in walk order. Files to score are decoded in parallel and
    /// scored `scanner.batchSize` at a time (one forward pass per model), as a plain scan does.
    /// - Throws: `JournalError` or a database error when the journal cannot be written (the scan stops: a journal
    ///   that silently missed rows would break the resume guarantee).
    public mutating func run(_ paths: [String], _ handle: (ScanResult) -> Void) throws {
        var failure: (any Error)?
        var walker = scanner
        let limits = scanner.decoder.limits
        var batch = Batch()
        for p in paths where failure == nil {
            walker.walkFiles(p) { found in
                guard failure == nil else { return }
                do {
                    switch found {
                    case .failure(let r):
                        guard shard.contains(r.path) else { otherShards += 1; return }
                        try journal?.record(r, size: 0, mtime: 0, sha256: nil)
                        batch.slots.append(.done(r))
                    case .file(let f):
                        guard shard.contains(f) else { otherShards += 1; return }
                        try prepare(f, limits: limits, into: &batch)
                    }
                    if batch.toScore >= max(1, scanner.batchSize) { try flush(&batch, handle) }
                } catch { failure = error }
            }
        }
        skippedNonImages = walker.skippedNonImages
        if failure == nil {
            do { try flush(&batch, handle) } catch { failure = error }
        }
        if let failure { throw failure }
        try journal?.flush()
    }

    /// Files passed over for their extension during `run`.
    public private(set) var skippedNonImages = 0

    /// Files in walk order since the last flush: results known already, files to score, and copies of files to score.
    struct Batch {
        enum Slot {
            case done(ScanResult)
            case score(path: String, bytes: [UInt8]?, size: Int, mtime: Double, sha256: String?)
            /// Identical bytes to slot `of` of this batch, under another path.
            case copy(of: Int, path: String, size: Int, mtime: Double, sha256: String)
        }
        var slots: [Slot] = []
        var pendingHashes: [String: Int] = [:]
        var toScore = 0
    }

    /// What the journal already knows of `f`, or what is left to score.
    mutating func prepare(_ f: String, limits: ImageLimits, into batch: inout Batch) throws {
        guard let journal else {
            batch.slots.append(.score(path: f, bytes: nil, size: 0, mtime: 0, sha256: nil))
            batch.toScore += 1
            return
        }
        // stat(2) directly: FileManager's attributes also look up the owner's account names, for every file.
        var st = stat()
        let statted = stat(f, &st) == 0
        let size = statted ? Int(st.st_size) : 0
        let mtime = statted ? Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9 : 0
        if let done = try journal.done(path: f, size: size, mtime: mtime) {
            resumed += 1
            batch.slots.append(.done(done))
            return
        }
        // Over the size limit, or unreadable: the scanner reports it without the bytes being read here.
        guard size <= limits.maxBytes, let data = FileManager.default.contents(atPath: f) else {
            batch.slots.append(.score(path: f, bytes: nil, size: size, mtime: mtime, sha256: nil))
            batch.toScore += 1
            return
        }
        let bytes = [UInt8](data)
        let hash = sha256Hex(bytes)
        if let same = try journal.result(sha256: hash) {
            // Identical bytes scored before: the same outcome, under this path.
            let r = Self.copy(same, to: f)
            try journal.record(r, size: size, mtime: mtime, sha256: hash, reused: true)
            reused += 1
            batch.slots.append(.done(r))
        } else if let first = batch.pendingHashes[hash] {
            batch.slots.append(.copy(of: first, path: f, size: size, mtime: mtime, sha256: hash))
        } else {
            batch.pendingHashes[hash] = batch.slots.count
            batch.slots.append(.score(path: f, bytes: bytes, size: size, mtime: mtime, sha256: hash))
            batch.toScore += 1
        }
    }

    /// Scores the batch's files together, records the outcomes and hands every slot's result out in order.
    mutating func flush(_ batch: inout Batch, _ handle: (ScanResult) -> Void) throws {
        defer { batch = Batch() }
        var files: [String] = [], bytes: [[UInt8]?] = [], at: [Int] = []
        for (i, slot) in batch.slots.enumerated() {
            if case .score(let path, let b, _, _, _) = slot { files.append(path); bytes.append(b); at.append(i) }
        }
        var results: [Int: ScanResult] = [:]
        for (k, r) in scanner.scan(files: files, bytes: bytes).enumerated() { results[at[k]] = r }
        for (i, slot) in batch.slots.enumerated() {
            switch slot {
            case .done(let r):
                handle(r)
            case .score(_, _, let size, let mtime, let hash):
                let r = results[i]!
                try journal?.record(r, size: size, mtime: mtime, sha256: hash)
                handle(r)
            case .copy(let first, let path, let size, let mtime, let hash):
                let r = Self.copy(results[first]!, to: path)
                try journal?.record(r, size: size, mtime: mtime, sha256: hash, reused: true)
                reused += 1
                handle(r)
            }
        }
    }

    /// `result` under another path (an error message names this file).
    static func copy(_ result: ScanResult, to path: String) -> ScanResult {
        var same = result
        same.error = same.error?.replacingOccurrences(of: result.path, with: path)
        return ScanResult(copying: same, path: path)
    }
}
