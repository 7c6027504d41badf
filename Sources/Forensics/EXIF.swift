import Foundation

/// The EXIF tags a provenance report uses, read from a TIFF-structured block (IFD0, the Exif IFD, GPS presence).
/// Offsets are bounds-checked and IFD loops are cut, so a hostile block yields what could be read.
public struct EXIF: Sendable, Equatable, Codable {
    public var make: String?
    public var model: String?
    public var software: String?
    public var dateTime: String?
    public var dateTimeOriginal: String?
    public var lensModel: String?
    public var artist: String?
    public var imageDescription: String?
    public var userComment: String?
    /// MakerNote as text when it is printable (DALL-E writes "OpenAI--ImageGeneration--..."), else its size.
    public var makerNote: String?
    public var orientation: Int?
    public var hasGPS = false
    /// Tags read in all.
    public var tagCount = 0

    nonisolated(unsafe) static let names: [Int: WritableKeyPath<EXIF, String?>] = [  // immutable after initialisation
        0x010F: \.make, 0x0110: \.model, 0x0131: \.software, 0x0132: \.dateTime, 0x9003: \.dateTimeOriginal,
        0xA434: \.lensModel, 0x013B: \.artist, 0x010E: \.imageDescription,
    ]

    public init() {}

    /// Parses `block` (starting at "II*\0" or "MM\0*"); nil when it is not TIFF-structured.
    public init?(_ block: [UInt8]) {
        let b = Bytes(block)
        let little: Bool
        if b.starts(with: [0x49, 0x49, 0x2A, 0x00]) { little = true } else if b.starts(with: [0x4D, 0x4D, 0x00, 0x2A]) { little = false } else { return nil }
        guard let first = b.u32(4, little: little) else { return nil }
        var visited: Set<Int> = []
        var queue = [first]
        while let off = queue.popLast(), visited.count < 16 {
            guard !visited.contains(off), let n = b.u16(off, little: little), n < 1000 else { continue }
            visited.insert(off)
            for k in 0..<n {
                let e = off + 2 + 12 * k
                guard let tag = b.u16(e, little: little), let type = b.u16(e + 2, little: little),
                      let count = b.u32(e + 4, little: little) else { break }
                tagCount += 1
                let unit = [1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 10: 8][type] ?? 1
                guard count < 1 << 24 else { continue }
                let size = unit * count
                let valueOffset = size <= 4 ? e + 8 : (b.u32(e + 8, little: little) ?? -1)
                switch tag {
                case 0x8769, 0xA005: if let p = b.u32(e + 8, little: little) { queue.append(p) }  // Exif, interop IFDs
                case 0x8825: hasGPS = true
                case 0x0112: orientation = b.u16(e + 8, little: little)
                case 0x9286:
                    // UserComment: 8-byte character code ("ASCII\0\0\0", "UNICODE\0", zeros), then the text.
                    if let raw = b.slice(valueOffset, size) {
                        // An 8-byte character code ("ASCII", "UNICODE", "JIS", or zeros) usually comes first; some
                        // writers omit it. UNICODE text is UTF-16 in whichever byte order its first unit shows.
                        let code = raw.count >= 8 ? String(decoding: raw[0..<8], as: UTF8.self) : ""
                        let known = code.hasPrefix("ASCII") || code.hasPrefix("UNICODE") || code.hasPrefix("JIS") || raw.prefix(8).allSatisfy { $0 == 0 }
                        let body = known && raw.count >= 8 ? Array(raw[8...]) : raw
                        let text: String
                        if code.hasPrefix("UNICODE") {
                            let bigEndian = body.count >= 2 && body[0] == 0 && body[1] != 0
                            text = Self.utf16(body, little: !bigEndian)
                        } else { text = String(decoding: body, as: UTF8.self) }
                        userComment = text.trimmingCharacters(in: CharacterSet(charactersIn: "\0 ")).nilIfEmpty
                    }
                case 0x927C:
                    if let raw = b.slice(valueOffset, min(size, 4096)) {
                        let printable = raw.prefix(while: { $0 != 0 }).allSatisfy { (0x20...0x7E).contains($0) }
                        makerNote = printable ? String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self) : "\(size) bytes (binary)"
                    }
                default:
                    if let path = Self.names[tag], type == 2, let raw = b.slice(valueOffset, size) {
                        self[keyPath: path] = String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                            .trimmingCharacters(in: .whitespaces).nilIfEmpty
                    }
                }
            }
        }
    }

    static func utf16(_ b: [UInt8], little: Bool) -> String {
        var units: [UInt16] = []
        var i = 0
        while i + 1 < b.count { units.append(little ? UInt16(b[i]) | UInt16(b[i + 1]) << 8 : UInt16(b[i]) << 8 | UInt16(b[i + 1])); i += 2 }
        return String(decoding: units, as: UTF16.self)
    }

    /// Whether the block names a camera (make or model).
    public var namesACamera: Bool { make != nil || model != nil }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
