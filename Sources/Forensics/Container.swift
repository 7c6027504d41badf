import Foundation
import Imaging

/// Errors of the metadata parsers: a malformed structure is reported, never trapped on.
public enum ForensicsError: Error, LocalizedError, Equatable {
    case unreadable(path: String, reason: String)
    case malformed(String)
    public var errorDescription: String? {
        switch self {
        case .unreadable(let p, let r): return "\(p): \(r)"
        case .malformed(let why): return "malformed metadata: \(why)"
        }
    }
}

/// Bounds-checked big/little-endian reads over bytes; every read returns nil past the end.
struct Bytes {
    let b: [UInt8]
    init(_ b: [UInt8]) { self.b = b }
    init(_ d: Data) { b = [UInt8](d) }
    var count: Int { b.count }
    func u8(_ i: Int) -> UInt8? { i >= 0 && i < b.count ? b[i] : nil }
    func u16(_ i: Int, little: Bool = false) -> Int? {
        guard i >= 0, i + 2 <= b.count else { return nil }
        return little ? Int(b[i]) | Int(b[i + 1]) << 8 : Int(b[i]) << 8 | Int(b[i + 1])
    }
    func u32(_ i: Int, little: Bool = false) -> Int? {
        guard i >= 0, i + 4 <= b.count else { return nil }
        let v = little ? UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
            : UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
        return Int(v)
    }
    func u64(_ i: Int) -> Int? {
        guard let hi = u32(i), let lo = u32(i + 4), hi < 0x7FFF_FFFF else { return nil }
        return hi << 32 | lo
    }
    func slice(_ i: Int, _ n: Int) -> [UInt8]? {
        guard i >= 0, n >= 0, i <= b.count, n <= b.count - i else { return nil }
        return Array(b[i..<(i + n)])
    }
    func ascii(_ i: Int, _ n: Int) -> String? { slice(i, n).map { String(decoding: $0, as: UTF8.self) } }
    func starts(with prefix: [UInt8], at i: Int = 0) -> Bool { slice(i, prefix.count) == prefix }
}

/// The metadata blocks of one file, found by walking its container (JPEG segments, PNG chunks, WebP RIFF
/// chunks, TIFF, ISO-BMFF boxes for HEIC/AVIF). Pixel data is never decoded here.
public struct MetadataBlocks: Sendable, Equatable {
    public var format = "unknown"
    /// TIFF-structured EXIF payloads (starting at the byte-order mark).
    public var exif: [[UInt8]] = []
    public var xmp: [String] = []
    /// PNG tEXt/zTXt/iTXt keyword -> text (zTXt/compressed iTXt inflated).
    public var text: [(key: String, value: String)] = []
    public var icc: [UInt8]?
    /// JPEG quantisation tables (64 values each, natural order is irrelevant for quality estimation).
    public var quantTables: [[Int]] = []
    /// C2PA manifest stores (JUMBF boxes from JPEG APP11, PNG caBX, or a 'c2pa' box / 'uuid' box).
    public var jumbf: [[UInt8]] = []
    /// JPEG comment segments.
    public var comments: [String] = []
    /// Structural problems met on the way (the walk stops there, what was found stays).
    public var problems: [String] = []

    public static func == (a: MetadataBlocks, b: MetadataBlocks) -> Bool {
        a.format == b.format && a.exif == b.exif && a.xmp == b.xmp && a.text.map(\.key) == b.text.map(\.key)
            && a.text.map(\.value) == b.text.map(\.value) && a.icc == b.icc && a.quantTables == b.quantTables && a.jumbf == b.jumbf
    }

    /// Walks `data`; never throws: malformed structure ends the walk and is listed in `problems`.
    public static func read(_ data: [UInt8]) -> MetadataBlocks {
        var m = MetadataBlocks()
        let b = Bytes(data)
        if b.starts(with: [0xFF, 0xD8]) { m.format = "jpeg"; m.walkJPEG(b) }
        else if b.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { m.format = "png"; m.walkPNG(b) }
        else if b.starts(with: Array("RIFF".utf8)) && b.starts(with: Array("WEBP".utf8), at: 8) { m.format = "webp"; m.walkRIFF(b) }
        else if b.starts(with: [0x49, 0x49, 0x2A, 0x00]) || b.starts(with: [0x4D, 0x4D, 0x00, 0x2A]) { m.format = "tiff"; m.exif.append(data) }
        else if b.starts(with: Array("ftyp".utf8), at: 4) { m.format = "isobmff"; m.walkBoxes(b, from: 0, to: b.count, depth: 0) }
        else if b.starts(with: Array("GIF8".utf8)) { m.format = "gif" }
        return m
    }

    mutating func walkJPEG(_ b: Bytes) {
        var i = 2
        var app11: [Int: [(Int, [UInt8])]] = [:]
        while i + 4 <= b.count {
            guard b.u8(i) == 0xFF, let marker = b.u8(i + 1) else { problems.append("JPEG: no marker at byte \(i)"); break }
            if marker == 0xFF { i += 1; continue }  // fill byte
            if marker == 0xD9 || marker == 0xDA { break }  // end, or entropy-coded data follows
            if (0xD0...0xD7).contains(marker) || marker == 0x01 { i += 2; continue }
            guard let len = b.u16(i + 2), len >= 2, let seg = b.slice(i + 4, len - 2) else {
                problems.append("JPEG: segment 0x\(String(marker, radix: 16)) at byte \(i) runs past the end"); break
            }
            let s = Bytes(seg)
            switch marker {
            case 0xE1:
                if s.starts(with: Array("Exif\0\0".utf8)) { exif.append(Array(seg[6...])) }
                else if s.starts(with: Array("http://ns.adobe.com/xap/1.0/\0".utf8)) { xmp.append(String(decoding: seg[29...], as: UTF8.self)) }
            case 0xE2:
                if s.starts(with: Array("ICC_PROFILE\0".utf8)), seg.count > 14 { icc = (icc ?? []) + Array(seg[14...]) }
            case 0xEB:
                // JUMBF (ISO 19566-5): "JP", box instance En, sequence Z, then the box; continuation segments
                // repeat the 8-byte box header.
                if s.starts(with: Array("JP".utf8)), let en = s.u16(2), let z = s.u32(4), seg.count > 8 {
                    app11[en, default: []].append((z, Array(seg[8...])))
                }
            case 0xDB:
                var j = 0
                while j < seg.count {
                    guard let pq = s.u8(j) else { break }
                    let sixteen = pq >> 4 == 1
                    var t: [Int] = []
                    for k in 0..<64 {
                        guard let v = sixteen ? s.u16(j + 1 + 2 * k) : s.u8(j + 1 + k).map(Int.init) else { break }
                        t.append(v)
                    }
                    guard t.count == 64 else { problems.append("JPEG: short quantisation table"); break }
                    quantTables.append(t)
                    j += 1 + (sixteen ? 128 : 64)
                }
            case 0xFE:
                comments.append(String(decoding: seg, as: UTF8.self))
            default: break
            }
            i += 2 + len
        }
        for (_, parts) in app11.sorted(by: { $0.key < $1.key }) {
            let ordered = parts.sorted { $0.0 < $1.0 }
            var box: [UInt8] = []
            for (k, part) in ordered.enumerated() { box += k == 0 ? part.1 : Array(part.1.dropFirst(min(8, part.1.count))) }
            jumbf.append(box)
        }
    }

    mutating func walkPNG(_ b: Bytes) {
        var i = 8
        while i + 8 <= b.count {
            guard let len = b.u32(i), let type = b.ascii(i + 4, 4), let body = b.slice(i + 8, len) else {
                problems.append("PNG: chunk at byte \(i) runs past the end"); break
            }
            switch type {
            case "tEXt":
                if let z = body.firstIndex(of: 0) {
                    text.append((latin1(Array(body[..<z])), latin1(Array(body[(z + 1)...]))))
                }
            case "zTXt":
                if let z = body.firstIndex(of: 0), z + 2 <= body.count, let inflated = Inflate.zlib(Array(body[(z + 2)...])) {
                    text.append((latin1(Array(body[..<z])), latin1(inflated)))
                }
            case "iTXt":
                // keyword \0 flag method language \0 translated \0 text
                if let z = body.firstIndex(of: 0), z + 3 <= body.count {
                    let key = latin1(Array(body[..<z]))
                    let compressed = body[z + 1] == 1
                    var rest = Array(body[(z + 3)...])
                    for _ in 0..<2 { if let n = rest.firstIndex(of: 0) { rest = Array(rest[(n + 1)...]) } else { rest = [] } }
                    let value = compressed ? Inflate.zlib(rest).map { String(decoding: $0, as: UTF8.self) } : String(decoding: rest, as: UTF8.self)
                    if let value {
                        if key == "XML:com.adobe.xmp" { xmp.append(value) } else { text.append((key, value)) }
                    }
                }
            case "eXIf": exif.append(body)
            case "iCCP":
                if let z = body.firstIndex(of: 0), z + 2 <= body.count { icc = Inflate.zlib(Array(body[(z + 2)...])) }
            case "caBX": jumbf.append(body)
            case "IEND": return
            default: break
            }
            i += 12 + len
        }
    }

    mutating func walkRIFF(_ b: Bytes) {
        var i = 12
        while i + 8 <= b.count {
            guard let type = b.ascii(i, 4), let len = b.u32(i + 4, little: true), let body = b.slice(i + 8, len) else {
                problems.append("WebP: chunk at byte \(i) runs past the end"); break
            }
            switch type {
            case "EXIF": exif.append(Bytes(body).starts(with: Array("Exif\0\0".utf8)) ? Array(body[6...]) : body)
            case "XMP ": xmp.append(String(decoding: body, as: UTF8.self))
            case "ICCP": icc = body
            case "C2PA": jumbf.append(body)
            default: break
            }
            i += 8 + len + (len & 1)
        }
    }

    /// ISO-BMFF (HEIC, AVIF): descends into meta/iinf-free containers and takes 'uuid' C2PA boxes and 'Exif' /
    /// 'mime' (XMP) item data when they sit inline in an 'idat' or are referenced by 'iloc' is not resolved
    /// (reported as a problem rather than guessed).
    mutating func walkBoxes(_ b: Bytes, from start: Int, to end: Int, depth: Int) {
        guard depth < 8 else { return }
        var i = start
        while i + 8 <= end {
            guard var size = b.u32(i), let type = b.ascii(i + 4, 4) else { break }
            var header = 8
            if size == 1 { guard let s64 = b.u64(i + 8) else { break }; size = s64; header = 16 }
            if size == 0 { size = end - i }
            guard size >= header, i + size <= end else { problems.append("BMFF: box '\(type)' at byte \(i) runs past the end"); break }
            switch type {
            case "meta": walkBoxes(b, from: i + header + 4, to: i + size, depth: depth + 1)
            case "moov", "trak", "mdia", "minf", "stbl", "dinf", "iprp", "ipco": walkBoxes(b, from: i + header, to: i + size, depth: depth + 1)
            case "uuid":
                // C2PA's BMFF binding: uuid d8fec3d6-1b0e-483c-9297-5828877ec481, version/flags, purpose "manifest".
                let c2paUUID: [UInt8] = [0xD8, 0xFE, 0xC3, 0xD6, 0x1B, 0x0E, 0x48, 0x3C, 0x92, 0x97, 0x58, 0x28, 0x87, 0x7E, 0xC4, 0x81]
                if b.slice(i + header, 16) == c2paUUID, let body = b.slice(i + header + 16, size - header - 16) {
                    // version+flags (4), purpose (null-terminated), merkle offset (8), then the JUMBF.
                    if let z = body.dropFirst(4).firstIndex(of: 0), z + 9 <= body.count,
                       String(decoding: body[4..<z], as: UTF8.self) == "manifest" {
                        jumbf.append(Array(body[(z + 9)...]))
                    }
                }
            default: break
            }
            i += size
        }
    }
}

func latin1(_ b: [UInt8]) -> String { String(b.map { Character(Unicode.Scalar($0)) }) }
