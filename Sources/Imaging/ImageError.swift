import Foundation

/// Why an image could not be read. Every message names the file (or "<memory>").
public enum ImageError: Error, LocalizedError, Equatable, Sendable {
    case unreadable(file: String, reason: String)
    case empty(file: String)
    case fileTooLarge(file: String, bytes: Int, limit: Int)
    case unsupportedFormat(file: String, detected: String)
    case truncated(file: String, format: ImageFormat)
    case corrupt(file: String, format: ImageFormat, reason: String)
    case dimensionsTooLarge(file: String, width: Int, height: Int, limit: Int)

    public var file: String {
        switch self {
        case .unreadable(let f, _), .empty(let f), .fileTooLarge(let f, _, _), .unsupportedFormat(let f, _),
             .truncated(let f, _), .corrupt(let f, _, _), .dimensionsTooLarge(let f, _, _, _):
            return f
        }
    }

    /// A short machine-readable kind ("truncated", "corrupt", ...), for JSON output.
    public var kind: String {
        switch self {
        case .unreadable: return "unreadable"
        case .empty: return "empty"
        case .fileTooLarge: return "file_too_large"
        case .unsupportedFormat: return "unsupported_format"
        case .truncated: return "truncated"
        case .corrupt: return "corrupt"
        case .dimensionsTooLarge: return "dimensions_too_large"
        }
    }

    public var errorDescription: String? {
        switch self {
        case .unreadable(let f, let r): return "\(f): cannot read the file (\(r))"
        case .empty(let f): return "\(f): the file is empty (0 bytes)"
        case .fileTooLarge(let f, let b, let l): return "\(f): the file is \(b) bytes, over the \(l)-byte limit (raise it with --max-bytes)"
        case .unsupportedFormat(let f, let d): return "\(f): \(d) is not a supported image format (JPEG, PNG, WebP, TIFF, GIF, BMP, HEIC, AVIF)"
        case .truncated(let f, let fmt): return "\(f): the \(fmt.name) data ends early (truncated file)"
        case .corrupt(let f, let fmt, let r): return "\(f): corrupt \(fmt.name) data: \(r)"
        case .dimensionsTooLarge(let f, let w, let h, let l):
            return "\(f): \(w)x\(h) pixels exceed the limit of \(l) pixels (raise it with --max-pixels)"
        }
    }
}
