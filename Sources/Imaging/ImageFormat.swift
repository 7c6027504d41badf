/// Image container formats, recognised by their leading bytes (never by file extension).
public enum ImageFormat: String, Sendable, CaseIterable, Codable {
    case jpeg, png, webp, tiff, gif, bmp, heif, avif

    public var name: String {
        switch self {
        case .jpeg: return "JPEG"
        case .png: return "PNG"
        case .webp: return "WebP"
        case .tiff: return "TIFF"
        case .gif: return "GIF"
        case .bmp: return "BMP"
        case .heif: return "HEIF"
        case .avif: return "AVIF"
        }
    }

    var code: Int32 {
        switch self {
        case .jpeg: return 1
        case .png: return 2
        case .webp: return 3
        case .tiff: return 4
        case .gif: return 5
        case .bmp: return 6
        case .heif: return 7
        case .avif: return 8
        }
    }

    /// What the bytes are: a supported format, or a description of an unsupported one.
    public enum Detection: Equatable, Sendable {
        case supported(ImageFormat)
        case unsupported(String)
    }

    /// Identifies `bytes` by magic number.
    public static func detect<C: Collection>(_ bytes: C) -> Detection where C.Element == UInt8, C.Index == Int {
        let b = Array(bytes.prefix(64))
        func starts(_ p: [UInt8], at o: Int = 0) -> Bool { b.count >= o + p.count && Array(b[o..<(o + p.count)]) == p }
        func ascii(_ s: String, at o: Int = 0) -> Bool { starts(Array(s.utf8), at: o) }
        if starts([0xFF, 0xD8, 0xFF]) { return .supported(.jpeg) }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .supported(.png) }
        if ascii("GIF87a") || ascii("GIF89a") { return .supported(.gif) }
        if ascii("RIFF") && ascii("WEBP", at: 8) { return .supported(.webp) }
        if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) { return .supported(.tiff) }
        if starts([0x49, 0x49, 0x2B, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2B]) { return .supported(.tiff) }
        if ascii("BM") && b.count >= 26 { return .supported(.bmp) }
        if ascii("ftyp", at: 4), b.count >= 12 {
            // ISO-BMFF: major brand at 8, compatible brands after the minor version.
            let size = min(Int(b[0]) << 24 | Int(b[1]) << 16 | Int(b[2]) << 8 | Int(b[3]), b.count)
            var brands: [String] = [String(decoding: b[8..<12], as: UTF8.self)]
            var o = 16
            while o + 4 <= size { brands.append(String(decoding: b[o..<(o + 4)], as: UTF8.self)); o += 4 }
            if brands.contains(where: { ["avif", "avis"].contains($0) }) { return .supported(.avif) }
            if brands.contains(where: { ["heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1"].contains($0) }) {
                return .supported(.heif)
            }
            return .unsupported("an ISO media file (brand '\(brands[0])')")
        }
        if ascii("%PDF") { return .unsupported("a PDF document") }
        if ascii("<?xml") || ascii("<svg") { return .unsupported("an XML/SVG document") }
        if ascii("PK\u{03}\u{04}") { return .unsupported("a ZIP archive") }
        if starts([0x1F, 0x8B]) { return .unsupported("a gzip archive") }
        if starts([0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20]) || starts([0xFF, 0x4F, 0xFF, 0x51]) { return .unsupported("JPEG 2000") }
        if starts([0xFF, 0x0A]) || starts([0x00, 0x00, 0x00, 0x0C, 0x4A, 0x58, 0x4C, 0x20]) { return .unsupported("JPEG XL") }
        if ascii("8BPS") { return .unsupported("a Photoshop document") }
        if starts([0x00, 0x00, 0x01, 0x00]) { return .unsupported("a Windows icon") }
        if starts([0x76, 0x2F, 0x31, 0x01]) { return .unsupported("OpenEXR") }
        if ascii("<!DOCTYPE") || ascii("<html") || ascii("<HTML") { return .unsupported("an HTML document") }
        if !b.isEmpty && b.allSatisfy({ $0 == 0x09 || $0 == 0x0A || $0 == 0x0D || (0x20..<0x7F).contains($0) }) {
            return .unsupported("a text file")
        }
        return .unsupported("unrecognised data")
    }
}
