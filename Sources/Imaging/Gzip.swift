import CImageCodecs
import Foundation

/// Gzip decompression of whole files (zlib), for `.tar.gz` data sets.
public enum Gzip {
    public struct Failure: Error, LocalizedError {
        public let path: String, reason: String
        public var errorDescription: String? { "\(path): \(reason)" }
    }
    /// Decompresses `source` into `destination`, atomically (a partial file never appears under that name).
    public static func decompress(file source: String, to destination: String) throws {
        var err = [CChar](repeating: 0, count: 512)
        if cimg_gunzip_file(source, destination, &err, err.count) != 0 {
            throw Failure(path: source, reason: String(decoding: err.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
    }
}

/// In-memory zlib inflation with an output limit (a guard against decompression bombs).
public enum Inflate {
    /// The inflated bytes of a zlib stream (or raw deflate with `raw`), or nil if corrupt or larger than `maxOutput`.
    public static func zlib(_ bytes: [UInt8], raw: Bool = false, maxOutput: Int = 16 << 20) -> [UInt8]? {
        guard !bytes.isEmpty else { return nil }
        var out: UnsafeMutablePointer<UInt8>?
        var n = 0
        let rc = bytes.withUnsafeBufferPointer { cimg_inflate($0.baseAddress, $0.count, raw ? -15 : 15, maxOutput, &out, &n) }
        guard rc == 0, let out else { return nil }
        defer { free(out) }
        return Array(UnsafeBufferPointer(start: out, count: n))
    }
}
