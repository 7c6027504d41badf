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

    /// Scans `paths`, calling `handle` with each result in walk order.
    /// - Throws: `JournalError` or a database error when the journal cannot be written (the scan stops: a journal
    ///   that silently missed rows would break the resume guarantee).
    public mutating func run(_ paths: [String], _ handle: (ScanResult) -> Void) throws {
        var failure: (any Error)?
        var walker = scanner
        let limits = scanner.decoder.limits
        for p in paths where failure == nil {
            walker.walkFiles(p) { found in
                guard failure == nil else { return }
                do {
                    switch found {
                    case .failure(let r):
                        guard shard.contains(r.path) else { otherShards += 1; return }
                        try journal?.record(r, size: 0, mtime: 0, sha256: nil)
                        handle(r)
                    case .file(let f):
                        guard shard.contains(f) else { otherShards += 1; return }
                        handle(try scanOne(f, limits: limits))
                    }
                } catch { failure = error }
            }
        }
        skippedNonImages = walker.skippedNonImages
        if let failure { throw failure }
        try journal?.flush()
    }

    /// Files passed over for their extension during `run`.
    public private(set) var skippedNonImages = 0

    mutating func scanOne(_ f: String, limits: ImageLimits) throws -> ScanResult {
        guard let journal else { return scanner.scan(file: f) }
        // stat(2) directly: FileManager's attributes also look up the owner's account names, for every file.
        var st = stat()
        let statted = stat(f, &st) == 0
        let size = statted ? Int(st.st_size) : 0
        let mtime = statted ? Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9 : 0
        if let done = try journal.done(path: f, size: size, mtime: mtime) {
            resumed += 1
            return done
        }
        // Over the size limit, or unreadable: the scanner reports it without the bytes being read here.
        guard size <= limits.maxBytes, let data = FileManager.default.contents(atPath: f) else {
            let r = scanner.scan(file: f)
            try journal.record(r, size: size, mtime: mtime, sha256: nil)
            return r
        }
        let bytes = [UInt8](data)
        let hash = sha256Hex(bytes)
        if var same = try journal.result(sha256: hash) {
            // Identical bytes: the same outcome, under this path (an error message names this file).
            let old = same.path
            same.error = same.error?.replacingOccurrences(of: old, with: f)
            same = ScanResult(copying: same, path: f)
            try journal.record(same, size: size, mtime: mtime, sha256: hash, reused: true)
            reused += 1
            return same
        }
        let r = scanner.scan(file: f, bytes: bytes)
        try journal.record(r, size: size, mtime: mtime, sha256: hash)
        return r
    }
}
