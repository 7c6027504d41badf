import Crypto
import Detection
import Foundation
import GRDB

/// Errors of the scan journal: each names the journal file and what to do.
public enum JournalError: Error, LocalizedError, Equatable {
    case exists(path: String)
    case otherModels(path: String, journal: String, now: String)
    case otherShard(path: String, journal: String, now: String)
    case unreadable(path: String, reason: String)
    case badShard(String)

    public var errorDescription: String? {
        switch self {
        case .exists(let p): return "\(p) already holds a scan: add --resume to continue it, or name another journal"
        case .otherModels(let p, let j, let n): return "\(p) was written with the models \(j), not \(n): resume with the same models, or name another journal"
        case .otherShard(let p, let j, let n): return "\(p) holds shard \(j), not \(n): resume with the same --shard, or name another journal"
        case .unreadable(let p, let r): return "\(p) is not a readable aidetect journal: \(r)"
        case .badShard(let s): return "--shard \(s): give i/N with 1 <= i <= N (e.g. 2/8)"
        }
    }
}

/// Which part of a scan this process does: files whose path hashes to `index` of `count` (1-based), so that N
/// machines given the same command line and `--shard 1/N` ... `--shard N/N` share the files without talking.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    public let index: Int, count: Int
    public static let whole = Shard(index: 1, count: 1)
    public init(index: Int, count: Int) {
        self.index = index
        self.count = count
    }
    /// Parses "i/N".
    public init(_ text: String) throws {
        let parts = text.split(separator: "/").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let i = parts[0], let n = parts[1], n >= 1, i >= 1, i <= n else { throw JournalError.badShard(text) }
        self.init(index: i, count: n)
    }
    public var description: String { "\(index)/\(count)" }
    /// Whether `path` belongs to this shard (the first 8 bytes of the SHA-256 of the path as given, modulo N).
    public func contains(_ path: String) -> Bool {
        guard count > 1 else { return true }
        let digest = Array(SHA256.hash(data: Data(path.utf8)))
        let h = digest.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return Int(h % UInt64(count)) == index - 1
    }
}

/// An SQLite journal of a scan (through GRDB): one row per file with its size, modification time, SHA-256 and
/// result (the `ScanResult` as JSON), committed every half second (or 256 files), so that a scan killed at any
/// moment resumes where it stopped (`--resume`): none skipped, and only the files of the last half second scored
/// again. Files with identical bytes are scored once.
///
/// ```swift
/// let journal = try ScanJournal(path: "scan.journal", models: "efficientnet_lite0@1a2b", shard: .whole, resume: false)
/// if journal.done(path: p, size: s, mtime: m) == nil { ... try journal.record(result, size: s, mtime: m, sha256: h) }
/// ```
public final class ScanJournal {
    public let path: String
    let db: DatabaseQueue

    /// Opens or creates the journal. A journal that holds results is continued only with `resume` and the same
    /// models and shard (`JournalError` otherwise).
    public init(path: String, models: String, shard: Shard, resume: Bool) throws {
        self.path = path
        var config = Configuration()
        config.prepareDatabase { db in
            // WAL with NORMAL sync: a committed batch survives the process being killed (`flush` commits them).
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            db = try DatabaseQueue(path: path, configuration: config)
            try db.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
            try db.write { db in
                try db.execute(sql: """
                    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                    CREATE TABLE IF NOT EXISTS files (
                      path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime DOUBLE NOT NULL, sha256 TEXT,
                      result TEXT NOT NULL, reused INTEGER NOT NULL DEFAULT 0, recorded DOUBLE NOT NULL);
                    CREATE INDEX IF NOT EXISTS files_sha256 ON files(sha256);
                    """)
            }
        } catch {
            throw JournalError.unreadable(path: path, reason: error.localizedDescription)
        }
        let existing = try db.read(Self.meta)
        let count = try db.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM files") ?? 0 }
        hadRows = count > 0
        if count > 0 || !existing.isEmpty {
            guard resume else { throw JournalError.exists(path: path) }
            if let m = existing["models"], m != models { throw JournalError.otherModels(path: path, journal: m, now: models) }
            if let s = existing["shard"], s != shard.description { throw JournalError.otherShard(path: path, journal: s, now: shard.description) }
        }
        try db.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('models', ?), ('shard', ?), ('format', 'aidetect-journal-1')",
                           arguments: [models, shard.description])
        }
    }

    /// The journal held rows when opened (a resume): only then can a file be done already.
    private var hadRows = false

    /// The recorded result of `path` when the file is unchanged (same size and modification time), else nil.
    public func done(path: String, size: Int, mtime: Double) throws -> ScanResult? {
        guard hadRows else { return nil }
        return try db.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT size, mtime, result FROM files WHERE path = ?", arguments: [path]),
                  row["size"] as Int == size, row["mtime"] as Double == mtime else { return nil }
            return try Self.decode(row["result"] as String)
        }
    }

    /// Hashes seen (recorded or pending), as a fixed-size Bloom filter: a hash it has never seen needs no database
    /// lookup, and its memory does not grow with the number of files (8 MiB, 3 probes: under 1% false positives
    /// up to about 7 million files; a false positive only costs a lookup).
    private var seen = [UInt64](repeating: 0, count: 1 << 20)
    private var seenLoaded = false

    private func probes(_ sha256: String) -> [Int] {
        // The hex digest's first 3 x 16 digits as three independent indexes (SHA-256 is uniform).
        let u = Array(sha256.utf8)
        func word(_ k: Int) -> UInt64 {
            var v: UInt64 = 0
            for c in u[(16 * k)..<(16 * k + 16)] { v = v << 4 | UInt64(c <= 57 ? c - 48 : c - 87) }
            return v
        }
        let bits = UInt64(seen.count * 64)
        return (0..<3).map { Int(word($0) % bits) }
    }

    private func remember(_ sha256: String) {
        for p in probes(sha256) { seen[p >> 6] |= 1 << UInt64(p & 63) }
    }

    private func mayHaveSeen(_ sha256: String) throws -> Bool {
        if !seenLoaded {
            seenLoaded = true
            if hadRows {
                try db.read { db in
                    let cursor = try String.fetchCursor(db, sql: "SELECT sha256 FROM files WHERE sha256 IS NOT NULL")
                    while let h = try cursor.next() {
                        if h.utf8.count == 64 { remember(h) }
                    }
                }
            }
        }
        return probes(sha256).allSatisfy { seen[$0 >> 6] & (1 << UInt64($0 & 63)) != 0 }
    }

    /// A result already recorded for the same bytes (another path), for identical files to be scored once.
    public func result(sha256: String) throws -> ScanResult? {
        if let r = pendingByHash[sha256] ?? writing.result(sha256) { return r }
        if sha256.utf8.count == 64, try !mayHaveSeen(sha256) { return nil }
        return try db.read { db in
            try String.fetchOne(db, sql: "SELECT result FROM files WHERE sha256 = ? AND reused = 0 LIMIT 1", arguments: [sha256]).map(Self.decode)
        }
    }

    /// Rows not yet written: they are committed together, at most `commitEvery` rows or `commitSeconds` apart
    /// (one transaction per file would cost more than scoring a small image), by a writer thread while the scan goes
    /// on (JSON encoding and SQLite off the scanning thread). A killed scan loses at most these and the batch being
    /// written; `--resume` scores them again.
    private typealias PendingRow = (result: ScanResult, size: Int, mtime: Double, sha256: String?, reused: Bool, recorded: Double)
    private var pending: [PendingRow] = []
    private var pendingByHash: [String: ScanResult] = [:]
    private var lastCommit = Date()
    public var commitEvery = 256
    public var commitSeconds = 0.5
    /// Results of the batch the writer is committing (by hash, for `result(sha256:)`), and its first failure.
    private final class Writing: @unchecked Sendable {
        private let lock = NSLock()
        private var byHash: [String: ScanResult] = [:]
        private var firstError: (any Error)?
        var error: (any Error)? { lock.withLock { firstError } }
        func fail(_ e: any Error) { lock.withLock { if firstError == nil { firstError = e } } }
        func result(_ h: String) -> ScanResult? { lock.withLock { byHash[h] } }
        func add(_ d: [String: ScanResult]) { lock.withLock { for (h, r) in d where byHash[h] == nil { byHash[h] = r } } }
        func remove(_ hashes: Dictionary<String, ScanResult>.Keys) { lock.withLock { for h in hashes { byHash[h] = nil } } }
    }
    private let writing = Writing()
    private let writer = DispatchQueue(label: "aidetect.journal.writer")

    /// Records one file's outcome (replacing an older row of the same path); written within `commitSeconds`.
    /// - Throws: the error of an earlier batch that could not be written.
    public func record(_ r: ScanResult, size: Int, mtime: Double, sha256: String?, reused: Bool = false) throws {
        if let e = writing.error { throw e }
        pending.append((r, size, mtime, sha256, reused, Date().timeIntervalSince1970))
        if let sha256, !reused, pendingByHash[sha256] == nil {
            pendingByHash[sha256] = r
            if sha256.utf8.count == 64 { remember(sha256) }
        }
        if pending.count >= commitEvery || Date().timeIntervalSince(lastCommit) >= commitSeconds { handOff() }
    }

    /// Gives the pending rows to the writer (one transaction), after the batch before them.
    private func handOff() {
        lastCommit = Date()
        guard !pending.isEmpty else { return }
        let rows = pending, hashes = pendingByHash
        pending.removeAll(keepingCapacity: true)
        pendingByHash.removeAll(keepingCapacity: true)
        writing.add(hashes)
        writer.async { [db, writing] in
            do {
                let json = try rows.map { String(decoding: try Self.encoder.encode($0.result), as: UTF8.self) }
                try db.write { db in
                    let statement = try db.cachedStatement(
                        sql: "INSERT OR REPLACE INTO files (path, size, mtime, sha256, result, reused, recorded) VALUES (?, ?, ?, ?, ?, ?, ?)")
                    for (row, j) in zip(rows, json) {
                        try statement.execute(arguments: [row.result.path, row.size, row.mtime, row.sha256, j, row.reused ? 1 : 0, row.recorded])
                    }
                }
            } catch {
                writing.fail(error)
            }
            writing.remove(hashes.keys)
        }
    }

    /// Writes the pending rows and waits until every row is committed. Call at the end of a scan.
    /// - Throws: the first error of a batch that could not be written.
    public func flush() throws {
        handOff()
        writer.sync {}
        if let e = writing.error { throw e }
    }

    deinit { try? flush() }

    /// Stores more metadata (the models' display names and header lines, for the report).
    public func setMetadata(_ values: [String: String]) throws {
        try db.write { db in
            for (k, v) in values { try db.execute(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", arguments: [k, v]) }
        }
    }

    /// How many files the journal holds.
    public func count() throws -> Int { try flush(); return try db.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM files") ?? 0 } }

    /// The metadata of the journal at `path`, opened read-only.
    public static func metadata(of path: String) throws -> [String: String] {
        guard FileManager.default.fileExists(atPath: path) else { throw JournalError.unreadable(path: path, reason: "no such file") }
        var config = Configuration()
        config.readonly = true
        do {
            let q = try DatabaseQueue(path: path, configuration: config)
            return try q.read(meta)
        } catch { throw JournalError.unreadable(path: path, reason: error.localizedDescription) }
    }

    /// The `meta` table as a dictionary (`models`, `shard`, `format`, `names`, `header`, `placeholder`).
    static func meta(_ db: Database) throws -> [String: String] {
        try Dictionary(uniqueKeysWithValues: Row.fetchAll(db, sql: "SELECT key, value FROM meta").map { ($0["key"] as String, $0["value"] as String) })
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    static func decode(_ json: String) throws -> ScanResult { try JSONDecoder().decode(ScanResult.self, from: Data(json.utf8)) }

    /// Every result of the journals, merged by path (a path in several journals: the latest record), in path order,
    /// handed out one at a time (memory stays flat in the number of files). All journals must share their models.
    public static func merged(_ paths: [String], _ handle: (ScanResult) throws -> Void) throws {
        guard !paths.isEmpty else { return }
        // One in-memory SQLite database attaches every journal and merges them with a query.
        let queue = try DatabaseQueue()
        try queue.writeWithoutTransaction { db in
            var models: String?
            for (i, p) in paths.enumerated() {
                guard FileManager.default.fileExists(atPath: p) else { throw JournalError.unreadable(path: p, reason: "no such file") }
                do { try db.execute(sql: "ATTACH DATABASE ? AS j\(i)", arguments: [p]) } catch {
                    throw JournalError.unreadable(path: p, reason: error.localizedDescription)
                }
                let m: String?
                do { m = try String.fetchOne(db, sql: "SELECT value FROM j\(i).meta WHERE key = 'models'") } catch {
                    throw JournalError.unreadable(path: p, reason: error.localizedDescription)
                }
                if let models, let m, m != models { throw JournalError.otherModels(path: p, journal: m, now: models) }
                models = models ?? m
            }
            let union = paths.indices.map { "SELECT path, result, recorded FROM j\($0).files" }.joined(separator: " UNION ALL ")
            let cursor = try Row.fetchCursor(db, sql: """
                SELECT path, result FROM (SELECT path, result, recorded, ROW_NUMBER() OVER (PARTITION BY path ORDER BY recorded DESC) AS k
                FROM (\(union))) WHERE k = 1 ORDER BY path
                """)
            while let row = try cursor.next() { try handle(try decode(row["result"] as String)) }
        }
    }
}

/// The SHA-256 of bytes, as 64 hex digits.
public func sha256Hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(64)
    for b in SHA256.hash(data: bytes) { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
    return String(decoding: out, as: UTF8.self)
}
