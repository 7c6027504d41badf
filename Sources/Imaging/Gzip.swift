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
