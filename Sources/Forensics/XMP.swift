import Foundation

/// Properties read from an XMP packet without an XML library: attributes (`ns:Name="value"`) and simple
/// elements (`<ns:Name>value</ns:Name>`, or the first `rdf:li` inside). Enough for provenance fields.
public struct XMP: Sendable, Equatable, Codable {
    public var properties: [String: String] = [:]

    public init(_ packet: String) {
        let s = Array(packet.utf8.prefix(4 << 20))
        var i = 0
        func name(at j: Int) -> (String, Int)? {
            var k = j
            while k < s.count, s[k] == UInt8(ascii: "_") || s[k] == UInt8(ascii: ":") || s[k] == UInt8(ascii: "-") || s[k] == UInt8(ascii: ".")
                    || (s[k] >= 0x30 && s[k] <= 0x39) || (s[k] | 0x20 >= 0x61 && s[k] | 0x20 <= 0x7A) { k += 1 }
            guard k > j, k - j < 128 else { return nil }
            let n = String(decoding: s[j..<k], as: UTF8.self)
            return n.contains(":") ? (n, k) : nil
        }
        while i < s.count {
            if s[i] == UInt8(ascii: "<"), i + 1 < s.count, s[i + 1] != UInt8(ascii: "/"), let (n, end) = name(at: i + 1) {
                // Attributes of this element.
                var k = end
                while k < s.count, s[k] != UInt8(ascii: ">") {
                    if let (a, e) = name(at: k), e + 1 < s.count, s[e] == UInt8(ascii: "="), s[e + 1] == UInt8(ascii: "\"") || s[e + 1] == UInt8(ascii: "'") {
                        let q = s[e + 1]
                        var v = e + 2
                        while v < s.count, s[v] != q { v += 1 }
                        if !a.hasPrefix("xmlns:") && !a.hasPrefix("rdf:") && properties[a] == nil {
                            properties[a] = Self.unescape(String(decoding: s[(e + 2)..<min(v, s.count)], as: UTF8.self))
                        }
                        k = v + 1
                    } else { k += 1 }
                }
                // Element text (skipping nested rdf containers to the first rdf:li).
                if k < s.count, k > 0, s[k - 1] != UInt8(ascii: "/"), !n.hasPrefix("rdf:"), !n.hasPrefix("x:"), properties[n] == nil {
                    let close = Array("</\(n)>".utf8)
                    if let c = Self.find(close, in: s, from: k + 1, limit: 1 << 16) {
                        var body = String(decoding: s[(k + 1)..<c], as: UTF8.self)
                        if body.contains("<rdf:li") {
                            if let li = body.range(of: "<rdf:li"), let gt = body[li.upperBound...].firstIndex(of: ">"),
                               let end = body[gt...].range(of: "</rdf:li>") {
                                body = String(body[body.index(after: gt)..<end.lowerBound])
                            } else { body = "" }
                        }
                        let text = body.trimmingCharacters(in: .whitespacesAndNewlines)
                        if !text.isEmpty && !text.contains("<") { properties[n] = Self.unescape(text) }
                    }
                }
                i = k
            } else { i += 1 }
        }
    }

    static func find(_ needle: [UInt8], in s: [UInt8], from: Int, limit: Int) -> Int? {
        guard !needle.isEmpty else { return nil }
        var i = from
        let end = min(s.count - needle.count, from + limit)
        while i <= end {
            if s[i] == needle[0] && Array(s[i..<(i + needle.count)]) == needle { return i }
            i += 1
        }
        return nil
    }

    static func unescape(_ s: String) -> String {
        s.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
    }

    /// IPTC digital source type (`Iptc4xmpExt:DigitalSourceType`), as its last path component
    /// (e.g. "trainedAlgorithmicMedia").
    public var digitalSourceType: String? {
        (properties["Iptc4xmpExt:DigitalSourceType"] ?? properties["plus:DigitalSourceType"]).map { $0.split(separator: "/").last.map(String.init) ?? $0 }
    }
    public var creatorTool: String? { properties["xmp:CreatorTool"] }
}

/// The description of an ICC profile ('desc' tag: v2 textDescriptionType or v4 multiLocalizedUnicodeType).
public func iccDescription(_ icc: [UInt8]) -> String? {
    let b = Bytes(icc)
    guard let n = b.u32(128), n < 1000 else { return nil }
    for k in 0..<n {
        let e = 132 + 12 * k
        guard let sig = b.ascii(e, 4), let off = b.u32(e + 4), let size = b.u32(e + 8) else { return nil }
        guard sig == "desc", let type = b.ascii(off, 4) else { continue }
        if type == "desc", let len = b.u32(off + 8), let raw = b.slice(off + 12, min(len, size)) {
            return String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self).nilIfEmpty
        }
        if type == "mluc", let count = b.u32(off + 8), count > 0, let len = b.u32(off + 20), let o = b.u32(off + 24),
           let raw = b.slice(off + o, len) {
            return EXIF.utf16(raw, little: false).nilIfEmpty
        }
    }
    return nil
}

/// JPEG quality estimated from the luminance quantisation table against the IJG (libjpeg) tables scaled for
/// each quality 1...100: the best match, and whether it is exact (a standard libjpeg encoder).
public func estimateJPEGQuality(_ tables: [[Int]]) -> (quality: Int, exact: Bool)? {
    guard let luma = tables.first, luma.count == 64 else { return nil }
    // Annex K luminance table, in zig-zag order as stored in DQT.
    let base = [16, 11, 12, 14, 12, 10, 16, 14, 13, 14, 18, 17, 16, 19, 24, 40, 26, 24, 22, 22, 24, 49, 35, 37, 29, 40, 58, 51, 61, 60, 57, 51,
                56, 55, 64, 72, 92, 78, 64, 68, 87, 69, 55, 56, 80, 109, 81, 87, 95, 98, 103, 104, 103, 62, 77, 113, 121, 112, 100, 120, 92,
                101, 103, 99]
    var best = (quality: 0, error: Int.max)
    for q in 1...100 {
        let scale = q < 50 ? 5000 / q : 200 - 2 * q
        var err = 0
        for i in 0..<64 { err += abs(min(max((base[i] * scale + 50) / 100, 1), 255) - luma[i]) }
        if err < best.error { best = (q, err) }
    }
    return (best.quality, best.error == 0)
}
