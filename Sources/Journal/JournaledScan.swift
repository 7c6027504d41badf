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

    /// Scans `paths`, calling `handle` with each result in walk order. A reading thread walks the tree and, for a
    /// journaled scan, stats, reads and hashes the files a little ahead; the scanning thread decides in walk order
    /// (resumed, identical bytes, to score), decodes the files to score in parallel and scores them
    /// `scanner.batchSize` at a time, as a plain scan does.
    /// - Throws: `JournalError` or a database error when the journal cannot be written (the scan stops: a journal
    ///   that silently missed rows would break the resume guarantee).
    public mutating func run(_ paths: [String], _ handle: (ScanResult) -> Void) throws {
        let ahead = ReadAhead(paths: paths, scanner: scanner, journal: journal, shard: shard)
        defer { ahead.cancel() }
        var batch = Batch()
        while let item = ahead.next() {
            switch item {
            case .failure(let r):
                try journal?.record(r, size: 0, mtime: 0, sha256: nil)
                batch.slots.append(.done(r))
            case .file(let f):
                try place(f, into: &batch)
            case .error(let e):
                throw e
            }
            // Rows that need no scoring (resumed, reused, unreadable) go out at once when nothing waits to be scored, so a
            // resumed scan streams its rows and holds none of them; otherwise when enough files wait to be scored.
            if batch.toScore == 0 || batch.toScore >= max(1, scanner.batchSize) { try flush(&batch, handle) }
        }
        (skippedNonImages, otherShards) = ahead.counts
        try flush(&batch, handle)
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

    /// Puts a file read ahead into the batch: its journal row (resumed), the result of identical bytes scored
    /// before (in the journal or earlier in this batch), or a place among the files to score.
    mutating func place(_ f: ReadAhead.File, into batch: inout Batch) throws {
        if let done = f.done {
            resumed += 1
            batch.slots.append(.done(done))
            return
        }
        guard let journal, let bytes = f.bytes, let hash = f.sha256 else {
            // No journal, or over the size limit, or unreadable: the scanner reads it and reports what is wrong.
            batch.slots.append(.score(path: f.path, bytes: f.bytes, size: f.size, mtime: f.mtime, sha256: nil))
            batch.toScore += 1
            return
        }
        if let same = try journal.result(sha256: hash) {
            // Identical bytes scored before: the same outcome, under this path.
            let r = Self.copy(same, to: f.path)
            try journal.record(r, size: f.size, mtime: f.mtime, sha256: hash, reused: true)
            reused += 1
            batch.slots.append(.done(r))
        } else if let first = batch.pendingHashes[hash] {
            batch.slots.append(.copy(of: first, path: f.path, size: f.size, mtime: f.mtime, sha256: hash))
        } else {
            batch.pendingHashes[hash] = batch.slots.count
            batch.slots.append(.score(path: f.path, bytes: bytes, size: f.size, mtime: f.mtime, sha256: hash))
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

/// The walk of a scan on a thread of its own, a bounded number of files ahead of the scanning thread: the files of
/// this shard in walk order, each with its size and modification time, its journal row when it is done already,
/// and otherwise (journaled scans) its bytes and SHA-256. Memory stays bounded: at most `depth` files and, beyond
/// the first file waiting, `byteBudget` bytes of them (64 camera photos would otherwise be a gigabyte).
final class ReadAhead: @unchecked Sendable {
    struct File {
        let path: String
        var size = 0, mtime = 0.0
        var done: ScanResult?
        var bytes: [UInt8]?
        var sha256: String?
    }
    enum Item {
        case file(File), failure(ScanResult), error(any Error)
        /// The file bytes it holds (what the byte budget counts).
        var bytes: Int { if case .file(let f) = self { return f.bytes?.count ?? 0 }; return 0 }
    }

    private let condition = NSCondition()
    private var items: [Item] = []
    private var finished = false, cancelled = false
    private var skipped = 0, others = 0, queuedBytes = 0
    private let depth = 64, byteBudget = 64 << 20

    private let scanner: Detection.Scanner
    private let journal: ScanJournal?
    private let shard: Shard

    init(paths: [String], scanner: Detection.Scanner, journal: ScanJournal?, shard: Shard) {
        self.scanner = scanner
        self.journal = journal
        self.shard = shard
        let thread = Thread { [self] in walk(paths) }
        thread.start()
    }

    private func walk(_ paths: [String]) {
        let limits = scanner.decoder.limits
        var walker = scanner
        var failed = false
        for p in paths where !failed && !isCancelled {
            walker.walkFiles(p) { found in
                guard !failed && !isCancelled else { return }
                switch found {
                case .failure(let r):
                    guard shard.contains(r.path) else { others += 1; return }
                    push(.failure(r))
                case .file(let path):
                    guard shard.contains(path) else { others += 1; return }
                    guard let journal else { push(.file(File(path: path))); return }
                    do { push(.file(try Self.read(path, journal: journal, limits: limits))) } catch {
                        failed = true
                        push(.error(error))
                    }
                }
            }
        }
        condition.lock()
        skipped = walker.skippedNonImages
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// stat(2) (FileManager's attributes also look up the owner's account names, for every file), the journal's row
    /// when the file is unchanged, else its bytes and hash (not for a file over the size limit or unreadable).
    static func read(_ path: String, journal: ScanJournal, limits: ImageLimits) throws -> File {
        var st = stat()
        var f = File(path: path)
        if stat(path, &st) == 0 {
            f.size = Int(st.st_size)
            f.mtime = Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
        }
        if let done = try journal.done(path: path, size: f.size, mtime: f.mtime) {
            f.done = done
        } else if f.size <= limits.maxBytes, let data = FileManager.default.contents(atPath: path) {
            let bytes = [UInt8](data)
            f.bytes = bytes
            f.sha256 = sha256Hex(bytes)
        }
        return f
    }

    private var isCancelled: Bool { condition.lock(); defer { condition.unlock() }; return cancelled }

    private func push(_ item: Item) {
        let size = item.bytes
        condition.lock()
        while !items.isEmpty && (items.count >= depth || queuedBytes + size > byteBudget) && !cancelled { condition.wait() }
        if !cancelled {
            items.append(item)
            queuedBytes += size
        }
        condition.broadcast()
        condition.unlock()
    }

    /// The next item in walk order, or nil at the end.
    func next() -> Item? {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && !finished && !cancelled { condition.wait() }
        guard !items.isEmpty else { return nil }
        let item = items.removeFirst()
        queuedBytes -= item.bytes
        condition.broadcast()
        return item
    }

    /// Files passed over for their extension, and files of other shards (once the walk has ended).
    var counts: (skipped: Int, otherShards: Int) {
        condition.lock()
        defer { condition.unlock() }
        while !finished && !cancelled { condition.wait() }
        return (skipped, others)
    }

    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }
}
