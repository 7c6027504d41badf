import Foundation

/// A CBOR value (RFC 8949), as C2PA claims and assertions are encoded.
public indirect enum CBOR: Sendable, Equatable {
    case unsigned(UInt64), negative(Int64), bytes([UInt8]), text(String), array([CBOR]), map([(CBOR, CBOR)])
    case tagged(UInt64, CBOR), bool(Bool), null, undefined, double(Double)

    public static func == (a: CBOR, b: CBOR) -> Bool {
        switch (a, b) {
        case (.unsigned(let x), .unsigned(let y)): return x == y
        case (.negative(let x), .negative(let y)): return x == y
        case (.bytes(let x), .bytes(let y)): return x == y
        case (.text(let x), .text(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.map(let x), .map(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case (.tagged(let t, let x), .tagged(let u, let y)): return t == u && x == y
        case (.bool(let x), .bool(let y)): return x == y
        case (.null, .null), (.undefined, .undefined): return true
        case (.double(let x), .double(let y)): return x == y || (x.isNaN && y.isNaN)
        default: return false
        }
    }

    /// Decodes one item; nil on malformed or too deeply nested input (depth 64, 1 M items).
    public static func decode(_ bytes: [UInt8]) -> CBOR? {
        var p = Parser(b: bytes)
        return p.item(depth: 0)
    }

    public subscript(key: String) -> CBOR? {
        if case .map(let pairs) = self { return pairs.first { $0.0 == .text(key) }?.1 }
        return nil
    }
    public var string: String? { if case .text(let s) = self { return s }; return nil }
    public var array: [CBOR]? { if case .array(let a) = self { return a }; return nil }
    public var untagged: CBOR { if case .tagged(_, let v) = self { return v.untagged }; return self }

    struct Parser {
        let b: [UInt8]
        var i = 0
        var items = 0
        mutating func byte() -> UInt8? { guard i < b.count else { return nil }; defer { i += 1 }; return b[i] }
        mutating func uint(_ info: UInt8) -> UInt64? {
            switch info {
            case 0..<24: return UInt64(info)
            case 24: return byte().map(UInt64.init)
            case 25, 26, 27:
                let n = info == 25 ? 2 : info == 26 ? 4 : 8
                guard i + n <= b.count else { return nil }
                var v: UInt64 = 0
                for _ in 0..<n { v = v << 8 | UInt64(b[i]); i += 1 }
                return v
            default: return nil
            }
        }
        mutating func item(depth: Int) -> CBOR? {
            items += 1
            guard depth < 64, items < 1_000_000, let first = byte() else { return nil }
            let major = first >> 5, info = first & 0x1F
            if major == 7 {
                switch info {
                case 20: return .bool(false)
                case 21: return .bool(true)
                case 22: return .null
                case 23: return .undefined
                case 25:
                    guard let h = uint(25) else { return nil }
                    return .double(Double(Float16(bitPattern: UInt16(h))))
                case 26: guard let v = uint(26) else { return nil }; return .double(Double(Float(bitPattern: UInt32(v))))
                case 27: guard let v = uint(27) else { return nil }; return .double(Double(bitPattern: v))
                default: return info < 24 ? .undefined : nil
                }
            }
            if info == 31 {
                // Indefinite length: strings, arrays and maps until a break byte.
                switch major {
                case 2, 3:
                    var acc: [UInt8] = []
                    while i < b.count, b[i] != 0xFF {
                        guard let part = item(depth: depth + 1) else { return nil }
                        if case .bytes(let x) = part { acc += x } else if case .text(let s) = part { acc += Array(s.utf8) } else { return nil }
                    }
                    guard byte() == 0xFF else { return nil }
                    return major == 2 ? .bytes(acc) : .text(String(decoding: acc, as: UTF8.self))
                case 4:
                    var a: [CBOR] = []
                    while i < b.count, b[i] != 0xFF { guard let v = item(depth: depth + 1) else { return nil }; a.append(v) }
                    guard byte() == 0xFF else { return nil }
                    return .array(a)
                case 5:
                    var m: [(CBOR, CBOR)] = []
                    while i < b.count, b[i] != 0xFF {
                        guard let k = item(depth: depth + 1), let v = item(depth: depth + 1) else { return nil }
                        m.append((k, v))
                    }
                    guard byte() == 0xFF else { return nil }
                    return .map(m)
                default: return nil
                }
            }
            guard let n = uint(info) else { return nil }
            switch major {
            case 0: return .unsigned(n)
            case 1: return n < UInt64(Int64.max) ? .negative(-1 - Int64(n)) : nil
            case 2, 3:
                guard n <= UInt64(b.count - i) else { return nil }
                let s = Array(b[i..<(i + Int(n))])
                i += Int(n)
                return major == 2 ? .bytes(s) : .text(String(decoding: s, as: UTF8.self))
            case 4:
                guard n <= UInt64(b.count - i) else { return nil }  // each item takes at least a byte
                var a: [CBOR] = []
                a.reserveCapacity(Int(n))
                for _ in 0..<n { guard let v = item(depth: depth + 1) else { return nil }; a.append(v) }
                return .array(a)
            case 5:
                guard n <= UInt64(b.count - i) / 2 else { return nil }
                var m: [(CBOR, CBOR)] = []
                for _ in 0..<n {
                    guard let k = item(depth: depth + 1), let v = item(depth: depth + 1) else { return nil }
                    m.append((k, v))
                }
                return .map(m)
            case 6:
                guard let v = item(depth: depth + 1) else { return nil }
                return .tagged(n, v)
            default: return nil
            }
        }
    }
}
