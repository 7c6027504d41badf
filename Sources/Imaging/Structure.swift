/// Byte-level checks on containers: end markers (to tell truncation from corruption), EXIF orientation.
enum Structure {
    static func be16(_ b: [UInt8], _ o: Int) -> Int { Int(b[o]) << 8 | Int(b[o + 1]) }
    static func be32(_ b: [UInt8], _ o: Int) -> Int { be16(b, o) << 16 | be16(b, o + 2) }
    static func le32(_ b: [UInt8], _ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 | Int(b[o + 2]) << 16 | Int(b[o + 3]) << 24 }

    /// Whether the container is cut short (its end marker, or a declared length, lies past the data).
    static func looksTruncated(_ format: ImageFormat, _ b: [UInt8]) -> Bool {
        switch format {
        case .jpeg:
            var end = b.count
            while end > 2 && b[end - 1] == 0 { end -= 1 }
            return !(end >= 2 && b[end - 2] == 0xFF && b[end - 1] == 0xD9)
        case .png:
            var p = 8
            while p + 8 <= b.count {
                let n = be32(b, p)
                if Array(b[(p + 4)..<(p + 8)]) == Array("IEND".utf8) { return false }
                p += 12 + n
            }
            return true
        case .gif:
            return b.last != 0x3B
        case .webp:
            return b.count >= 8 && le32(b, 4) + 8 > b.count
        case .heif, .avif:
            var p = 0
            while p + 8 <= b.count {
                var size = be32(b, p)
                if size == 1, p + 16 <= b.count { size = be32(b, p + 8) << 32 | be32(b, p + 12) }
                if size == 0 { return false }
                if size < 8 { return false }
                p += size
            }
            return p > b.count
        case .bmp:
            return b.count >= 6 && le32(b, 2) > b.count
        case .tiff:
            return false
        }
    }

    /// The orientation tag (0x0112) of the file's EXIF block, if any.
    static func exifOrientation(_ format: ImageFormat, _ b: [UInt8]) -> Int? {
        guard let tiff = exifTIFF(format, b) else { return nil }
        return tiffOrientation(b, tiff)
    }

    /// Offset of the TIFF header inside the EXIF block.
    static func exifTIFF(_ format: ImageFormat, _ b: [UInt8]) -> Int? {
        switch format {
        case .jpeg:
            var p = 2
            while p + 4 <= b.count, b[p] == 0xFF {
                let marker = b[p + 1]
                if marker == 0xD8 || (0xD0...0xD7).contains(marker) || marker == 0x01 { p += 2; continue }
                if marker == 0xDA || marker == 0xD9 { return nil }
                let len = be16(b, p + 2)
                if marker == 0xE1, len >= 8, p + 10 <= b.count, Array(b[(p + 4)..<(p + 10)]) == [0x45, 0x78, 0x69, 0x66, 0, 0] {
                    return p + 10
                }
                p += 2 + len
            }
            return nil
        case .png:
            var p = 8
            while p + 12 <= b.count {
                let n = be32(b, p)
                let type = Array(b[(p + 4)..<(p + 8)])
                if type == Array("eXIf".utf8) { return p + 8 }
                if type == Array("IDAT".utf8) || n < 0 { return nil }
                p += 12 + n
            }
            return nil
        case .webp:
            var p = 12
            while p + 8 <= b.count {
                let n = le32(b, p + 4)
                if Array(b[p..<(p + 4)]) == Array("EXIF".utf8) {
                    let body = p + 8
                    if body + 6 <= b.count, Array(b[body..<(body + 6)]) == [0x45, 0x78, 0x69, 0x66, 0, 0] { return body + 6 }
                    return body
                }
                p += 8 + n + (n & 1)
            }
            return nil
        default:
            return nil
        }
    }

    static func tiffOrientation(_ b: [UInt8], _ t: Int) -> Int? {
        guard t + 8 <= b.count else { return nil }
        let little = b[t] == 0x49
        func u16(_ o: Int) -> Int? {
            guard o >= 0, o + 2 <= b.count else { return nil }
            return little ? Int(b[o]) | Int(b[o + 1]) << 8 : Int(b[o]) << 8 | Int(b[o + 1])
        }
        func u32(_ o: Int) -> Int? {
            guard let lo = u16(little ? o : o + 2), let hi = u16(little ? o + 2 : o) else { return nil }
            return hi << 16 | lo
        }
        guard let ifd = u32(t + 4), let count = u16(t + ifd) else { return nil }
        for i in 0..<min(count, 512) {
            let e = t + ifd + 2 + i * 12
            guard let tag = u16(e) else { return nil }
            if tag == 0x0112 { return u16(e + 8) }
        }
        return nil
    }

    /// Profiles that are already sRGB (their description says so) need no conversion.
    static func isSRGBProfile(_ icc: UnsafeBufferPointer<UInt8>) -> Bool {
        guard icc.count > 128 else { return false }
        let text = String(decoding: icc.prefix(min(icc.count, 4096)), as: UTF8.self)
        return text.contains("sRGB IEC61966") || text.contains("sRGB built-in")
    }
}

/// A NUL-terminated C buffer as a Swift string.
func cText(_ buffer: [CChar]) -> String {
    let bytes = buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}
