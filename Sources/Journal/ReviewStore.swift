import Detection
import Foundation
import GRDB

/// Errors of the review store: each names the file and what to do.
public enum ReviewError: Error, LocalizedError, Equatable {
    case unreadable(path: String, reason: String)
    case badResults(path: String, line: Int, reason: String)
    case noItem(Int64)
    case badLabel(String)
    case badNote(String)
    case unreadableImage(path: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case .unreadable(let p, let r): return "\(p) is not a readable aidetect review store: \(r)"
        case .badResults(let p, let l, let r): return "\(p), line \(l): \(r) (give the output of `aidetect scan --json` or `--csv`)"
        case .noItem(let id): return "no review item \(id)"
        case .badLabel(let l): return "label '\(l)' is not one of \(ReviewItem.labels.joined(separator: ", ")) (or empty to clear it)"
        case .badNote(let r): return "note: \(r)"
        case .unreadableImage(let p, let r): return "\(p) can no longer be read: \(r)"
        }
    }
}

/// One image under review: where it came from (a scanned file's path, or bytes uploaded through the API and kept in
/// the store), the detector's verdict, the evidence report once made, and the reviewer's own label and note.
public struct ReviewItem: Sendable, Codable, Equatable {
    public static let labels = ["ai", "real", "unsure"]
    public var id: Int64
    public var name: String
    /// The file on disk (scan results); nil for an upload, whose bytes are in the store.
    public var path: String?
    public var sha256: String?
    public var probability: Double?
    public var verdict: String?
    /// Each model's P(AI), when the results name several.
    public var scores: [String: Double]?
    /// Why the file could not be analysed, for a scan's error rows.
    public var error: String?
    /// The reviewer's label (`labels`) and note, and when they were last saved (ISO 8601).
    public var label: String?
    public var note: String?
    public var reviewedAt: String?
    public var addedAt: String
    /// Whether the full evidence (heat maps, AI regions, provenance) has been made and stored.
    public var hasEvidence: Bool
}

/// A review of analysed images in SQLite (through GRDB): items imported from `aidetect scan --json`/`--csv` results
/// or added through the API, their evidence reports (JSON, made once), and reviewers' labels and notes, committed as
/// each is saved, so that a closed browser or a killed server loses nothing.
public final class ReviewStore: @unchecked Sendable {
    public let path: String
    let db: DatabaseQueue

    public init(path: String) throws {
        self.path = path
        do {
            db = try DatabaseQueue(path: path)
            try db.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
            try db.write { db in
                try db.execute(sql: """
                    CREATE TABLE IF NOT EXISTS items (
                      id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, path TEXT UNIQUE, sha256 TEXT,
                      probability DOUBLE, verdict TEXT, scores TEXT, error TEXT, image BLOB, evidence TEXT,
                      label TEXT, note TEXT, reviewedAt TEXT, addedAt TEXT NOT NULL);
                    """)
            }
        } catch {
            throw ReviewError.unreadable(path: path, reason: error.localizedDescription)
        }
    }

    /// Each model's P(AI) as stored (JSON), or nil.
    static func json(_ scores: [String: Double]?) -> String? {
        scores.map { String(decoding: (try? JSONEncoder().encode($0)) ?? Data(), as: UTF8.self) }
    }

    static func now() -> String { ISO8601DateFormatter().string(from: Date()) }

    static func item(_ row: Row) -> ReviewItem {
        ReviewItem(id: row["id"], name: row["name"], path: row["path"], sha256: row["sha256"], probability: row["probability"], verdict: row["verdict"],
                   scores: (row["scores"] as String?).flatMap { try? JSONDecoder().decode([String: Double].self, from: Data($0.utf8)) },
                   error: row["error"], label: row["label"], note: row["note"], reviewedAt: row["reviewedAt"], addedAt: row["addedAt"],
                   hasEvidence: (row["hasEvidence"] as Int?) == 1)
    }
    static let columns = "id, name, path, sha256, probability, verdict, scores, error, label, note, reviewedAt, addedAt, evidence IS NOT NULL AS hasEvidence"

    /// Every item, the highest P(AI) first (items that could not be analysed last), then by id.
    public func items() throws -> [ReviewItem] {
        try db.read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.columns) FROM items ORDER BY probability IS NULL, probability DESC, id").map(Self.item)
        }
    }

    public func item(_ id: Int64) throws -> ReviewItem {
        guard let row = try db.read({ try Row.fetchOne($0, sql: "SELECT \(Self.columns) FROM items WHERE id = ?", arguments: [id]) }) else {
            throw ReviewError.noItem(id)
        }
        return Self.item(row)
    }

    /// A scanned file's row: its path and what the scan said.
    public struct Scanned: Sendable {
        public var path: String, name: String?, probability: Double?, verdict: String?, scores: [String: Double]?, error: String?
        public init(path: String, name: String? = nil, probability: Double?, verdict: String?, scores: [String: Double]? = nil, error: String? = nil) {
            self.path = path; self.name = name; self.probability = probability; self.verdict = verdict; self.scores = scores; self.error = error
        }
    }

    /// Adds a scanned file (by path) or replaces the verdict of one already there (its label and note are kept).
    @discardableResult
    public func addScanned(path: String, name: String? = nil, probability: Double?, verdict: String?, scores: [String: Double]? = nil,
                           error: String? = nil) throws -> Int64 {
        try addScanned([Scanned(path: path, name: name, probability: probability, verdict: verdict, scores: scores, error: error)])[0]
    }

    /// Adds scanned files in one transaction (not one commit per file); their ids, in order.
    @discardableResult
    public func addScanned(_ rows: [Scanned]) throws -> [Int64] {
        let now = Self.now()
        return try db.write { db in
            try rows.map { r in
                try db.execute(sql: """
                    INSERT INTO items (name, path, probability, verdict, scores, error, addedAt) VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(path) DO UPDATE SET probability = excluded.probability, verdict = excluded.verdict, scores = excluded.scores,
                      error = excluded.error, evidence = NULL, sha256 = NULL
                    """, arguments: [r.name ?? (r.path as NSString).lastPathComponent, r.path, r.probability, r.verdict, Self.json(r.scores), r.error, now])
                return try Int64.fetchOne(db, sql: "SELECT id FROM items WHERE path = ?", arguments: [r.path]) ?? db.lastInsertedRowID
            }
        }
    }

    /// Adds uploaded bytes (kept in the store) with their verdict and evidence report.
    @discardableResult
    public func addUpload(name: String, bytes: [UInt8], probability: Double?, verdict: String?, scores: [String: Double]? = nil,
                          evidence: Data? = nil) throws -> Int64 {
        let digest = sha256Hex(bytes)
        return try db.write { db in
            try db.execute(sql: """
                INSERT INTO items (name, sha256, probability, verdict, scores, image, evidence, addedAt) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [name, digest, probability, verdict, Self.json(scores), Data(bytes), evidence.map { String(decoding: $0, as: UTF8.self) }, Self.now()])
            return db.lastInsertedRowID
        }
    }

    /// The item's image bytes: from the store for an upload, else read from its path, which must still be a
    /// regular file of at most `maxBytes` (checked before reading: a path may have become a huge file or a pipe).
    public func imageBytes(_ id: Int64, maxBytes: Int = 50 << 20) throws -> [UInt8] {
        let row = try db.read { try Row.fetchOne($0, sql: "SELECT path, image FROM items WHERE id = ?", arguments: [id]) }
        guard let row else { throw ReviewError.noItem(id) }
        if let data = row["image"] as Data? { return [UInt8](data) }
        let path: String = row["path"] ?? ""
        let attributes: [FileAttributeKey: Any]
        do { attributes = try FileManager.default.attributesOfItem(atPath: path) } catch {
            throw ReviewError.unreadableImage(path: path, reason: "no such file (moved or deleted since the scan?)")
        }
        guard attributes[.type] as? FileAttributeType == .typeRegular else {
            throw ReviewError.unreadableImage(path: path, reason: "not a regular file")
        }
        let size = (attributes[.size] as? NSNumber)?.intValue ?? 0
        guard size <= maxBytes else { throw ReviewError.unreadableImage(path: path, reason: "\(size) bytes, over the limit of \(maxBytes)") }
        do { return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw ReviewError.unreadableImage(path: path, reason: error.localizedDescription)
        }
    }

    /// The stored evidence report (JSON), if made.
    public func evidence(_ id: Int64) throws -> Data? {
        try db.read { try String.fetchOne($0, sql: "SELECT evidence FROM items WHERE id = ?", arguments: [id]) }.map { Data($0.utf8) }
    }

    /// Stores the evidence report (and the SHA-256 of the bytes it was made from, and the verdict it gives).
    public func setEvidence(_ id: Int64, report: Data, sha256: String?, probability: Double?, verdict: String?) throws {
        try db.write { db in
            try db.execute(sql: """
                UPDATE items SET evidence = ?, sha256 = COALESCE(?, sha256), probability = COALESCE(?, probability), verdict = COALESCE(?, verdict),
                  error = CASE WHEN ? IS NULL THEN error ELSE NULL END WHERE id = ?
                """, arguments: [String(decoding: report, as: UTF8.self), sha256, probability, verdict, verdict, id])
        }
    }

    /// Longest note kept (characters); a longer one is refused, never cut.
    public static let maxNote = 20_000

    /// Saves the reviewer's label (one of `ReviewItem.labels`, or nil/empty to clear) and note (blank clears it).
    @discardableResult
    public func review(_ id: Int64, label: String?, note: String?) throws -> ReviewItem {
        try review(id, setLabel: true, label: label, setNote: true, note: note)
    }

    /// Saves only what is given: `setLabel`/`setNote` false leave the stored label/note as they are.
    @discardableResult
    public func review(_ id: Int64, setLabel: Bool, label: String?, setNote: Bool, note: String?) throws -> ReviewItem {
        let l = label.flatMap { $0.isEmpty ? nil : $0 }
        if setLabel, let l, !ReviewItem.labels.contains(l) { throw ReviewError.badLabel(l) }
        if setNote, let note, note.count > Self.maxNote { throw ReviewError.badNote("\(note.count) characters, over the limit of \(Self.maxNote)") }
        let n = note.flatMap { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : $0 }
        let changed = try db.write { db -> Int in
            guard let old = try Row.fetchOne(db, sql: "SELECT label, note FROM items WHERE id = ?", arguments: [id]) else { return 0 }
            let newLabel: String? = setLabel ? l : old["label"], newNote: String? = setNote ? n : old["note"]
            try db.execute(sql: "UPDATE items SET label = ?, note = ?, reviewedAt = ? WHERE id = ?",
                           arguments: [newLabel, newNote, (newLabel == nil && newNote == nil) ? nil : Self.now(), id])
            return db.changesCount
        }
        guard changed > 0 else { throw ReviewError.noItem(id) }
        return try item(id)
    }

    /// Imports `aidetect scan` results: JSON Lines (`--json`) or CSV (`--csv`). Relative paths are taken from
    /// `root` (default: the current directory). Returns the number of files imported; the summary record is skipped.
    @discardableResult
    public func importResults(_ resultsPath: String, root: String? = nil) throws -> Int {
        let text: String
        do { text = try String(contentsOfFile: resultsPath, encoding: .utf8) } catch {
            throw ReviewError.badResults(path: resultsPath, line: 0, reason: error.localizedDescription)
        }
        func resolve(_ p: String) -> String {
            let full = p.hasPrefix("/") ? p : ((root ?? FileManager.default.currentDirectoryPath) as NSString).appendingPathComponent(p)
            return (full as NSString).standardizingPath
        }
        var rows: [Scanned] = []
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let first = lines.first { !$0.isEmpty && !$0.hasPrefix("#") } ?? ""
        if first.hasPrefix("{") {
            for (n, line) in lines.enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
                guard let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                    throw ReviewError.badResults(path: resultsPath, line: n + 1, reason: "not a JSON object")
                }
                if o["summary"] != nil { continue }
                guard let p = o["path"] as? String else { throw ReviewError.badResults(path: resultsPath, line: n + 1, reason: "no \"path\"") }
                rows.append(Scanned(path: resolve(p), name: p, probability: o["probability"] as? Double, verdict: o["verdict"] as? String,
                                    scores: o["scores"] as? [String: Double], error: o["error"] as? String))
            }
        } else {
            var header: [String] = []
            for (n, line) in lines.enumerated() where !line.isEmpty && !line.hasPrefix("#") {
                let f = Dataset.csvFields(line)
                if header.isEmpty { header = f; guard header.contains("path") else {
                    throw ReviewError.badResults(path: resultsPath, line: n + 1, reason: "the CSV header has no path column")
                }; continue }
                func v(_ k: String) -> String? { header.firstIndex(of: k).flatMap { $0 < f.count && !f[$0].isEmpty ? f[$0] : nil } }
                guard let p = v("path") else { continue }
                rows.append(Scanned(path: resolve(p), name: p, probability: v("probability").flatMap(Double.init), verdict: v("verdict"), error: v("error")))
            }
        }
        // All or nothing: a results file that fails half way adds none of its rows.
        try addScanned(rows)
        return rows.count
    }
}
