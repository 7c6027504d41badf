// A minimal Python pickle reader (protocols 2-5) for PyTorch checkpoints: enough opcodes to rebuild the
// dicts, lists, tuples, strings, numbers and tensors that `torch.save` writes. It never executes code:
// GLOBAL names become inert `PickleValue.global` values, and only the handful of torch rebuild functions
// are interpreted (see TorchCheckpoint).
import Foundation

/// A decoded pickle value.
indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    case global(module: String, name: String)
    /// An object built by REDUCE/NEWOBJ from a callable and arguments, with BUILD state.
    case object(callable: PickleValue, args: [PickleValue], state: PickleValue?)
    /// Whatever the persistent-load callback returned (storages).
    case external(AnyObject)

    var asString: String? { if case .string(let s) = self { return s }; return nil }
    var asInt: Int? {
        switch self {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }
    var asTuple: [PickleValue]? {
        switch self {
        case .tuple(let t): return t
        case .list(let l): return l.items
        default: return nil
        }
    }
}

final class PickleList { var items: [PickleValue] = [] }
final class PickleDict {
    var keys: [PickleValue] = []
    var values: [PickleValue] = []
    func set(_ k: PickleValue, _ v: PickleValue) {
        if let s = k.asString, let i = keys.firstIndex(where: { $0.asString == s }) { values[i] = v; return }
        keys.append(k)
        values.append(v)
    }
    subscript(_ key: String) -> PickleValue? {
        keys.firstIndex(where: { $0.asString == key }).map { values[$0] }
    }
}

struct PickleError: Error, CustomStringConvertible {
    let description: String
}

/// Reads one pickle from `bytes` starting at `offset`; `offset` ends just past its STOP opcode.
struct PickleReader {
    let bytes: [UInt8]
    var offset: Int
    var persistentLoad: (PickleValue) throws -> PickleValue
    /// Interprets REDUCE of known callables (tensor rebuilds, OrderedDict); nil = keep as `.object`.
    var reduce: (PickleValue, [PickleValue]) throws -> PickleValue?

    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]

    init(bytes: [UInt8], offset: Int = 0, persistentLoad: @escaping (PickleValue) throws -> PickleValue = { _ in .none },
         reduce: @escaping (PickleValue, [PickleValue]) throws -> PickleValue? = { _, _ in nil }) {
        self.bytes = bytes
        self.offset = offset
        self.persistentLoad = persistentLoad
        self.reduce = reduce
    }

    private mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, offset + n <= bytes.count else { throw PickleError(description: "truncated pickle at byte \(offset)") }
        defer { offset += n }
        return bytes[offset..<(offset + n)]
    }
    private mutating func u8() throws -> Int { Int(try take(1).first!) }
    private mutating func le(_ n: Int) throws -> UInt64 {
        try take(n).enumerated().reduce(UInt64(0)) { $0 | (UInt64($1.element) << (8 * UInt64($1.offset))) }
    }
    private mutating func line() throws -> String {
        guard let end = bytes[offset...].firstIndex(of: 0x0A) else { throw PickleError(description: "unterminated line in pickle") }
        let s = String(decoding: bytes[offset..<end], as: UTF8.self)
        offset = end + 1
        return s
    }
    private mutating func pop() throws -> PickleValue {
        guard let v = stack.popLast() else { throw PickleError(description: "pickle stack underflow at byte \(offset)") }
        return v
    }
    private mutating func popMark() throws -> [PickleValue] {
        guard let m = marks.popLast(), m <= stack.count else { throw PickleError(description: "pickle MARK missing at byte \(offset)") }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }
    private func signedLE(_ bytes: ArraySlice<UInt8>) -> Int {
        guard !bytes.isEmpty else { return 0 }
        var v: Int64 = 0
        for (i, b) in bytes.enumerated() where i < 8 { v |= Int64(b) << (8 * Int64(i)) }
        if bytes.count < 8, bytes.last! & 0x80 != 0 { v -= Int64(1) << (8 * Int64(bytes.count)) }
        return Int(v)
    }

    mutating func read() throws -> PickleValue {
        while true {
            let op = try u8()
            switch op {
            case 0x80: _ = try u8()                                   // PROTO
            case 0x95: _ = try take(8)                                // FRAME
            case 0x2E: return try pop()                               // STOP
            case 0x28: marks.append(stack.count)                      // MARK
            case 0x7D: stack.append(.dict(PickleDict()))              // EMPTY_DICT
            case 0x5D: stack.append(.list(PickleList()))              // EMPTY_LIST
            case 0x29: stack.append(.tuple([]))                       // EMPTY_TUPLE
            case 0x4E: stack.append(.none)
            case 0x88: stack.append(.bool(true))
            case 0x89: stack.append(.bool(false))
            case 0x4B: stack.append(.int(try u8()))                   // BININT1
            case 0x4D: stack.append(.int(Int(try le(2))))             // BININT2
            case 0x4A: stack.append(.int(signedLE(try take(4))))      // BININT
            case 0x8A: let n = try u8(); stack.append(.int(signedLE(try take(n))))             // LONG1
            case 0x8B: let n = Int(try le(4)); stack.append(.int(signedLE(try take(n))))       // LONG4
            case 0x49, 0x4C:                                           // INT, LONG (text)
                var s = try line()
                if s.hasSuffix("L") { s.removeLast() }
                if s == "01" { stack.append(.bool(true)) } else if s == "00" { stack.append(.bool(false)) } else {
                    guard let v = Int(s) else { throw PickleError(description: "bad INT '\(s)'") }
                    stack.append(.int(v))
                }
            case 0x47:                                                 // BINFLOAT (big endian)
                let b = try take(8)
                let bits = b.reduce(UInt64(0)) { ($0 << 8) | UInt64($1) }
                stack.append(.float(Double(bitPattern: bits)))
            case 0x58: let n = Int(try le(4)); stack.append(.string(String(decoding: try take(n), as: UTF8.self)))
            case 0x8C: let n = try u8(); stack.append(.string(String(decoding: try take(n), as: UTF8.self)))
            case 0x8D: let n = Int(try le(8)); stack.append(.string(String(decoding: try take(n), as: UTF8.self)))
            case 0x55: let n = try u8(); stack.append(.string(String(decoding: try take(n), as: UTF8.self)))
            case 0x54: let n = Int(try le(4)); stack.append(.string(String(decoding: try take(n), as: UTF8.self)))
            case 0x43: let n = try u8(); stack.append(.bytes(Array(try take(n))))
            case 0x42: let n = Int(try le(4)); stack.append(.bytes(Array(try take(n))))
            case 0x8E: let n = Int(try le(8)); stack.append(.bytes(Array(try take(n))))
            case 0x71: memo[try u8()] = stack.last                    // BINPUT
            case 0x72: memo[Int(try le(4))] = stack.last              // LONG_BINPUT
            case 0x94: memo[memo.count] = stack.last                  // MEMOIZE
            case 0x68, 0x6A:                                           // BINGET, LONG_BINGET
                let k = op == 0x68 ? try u8() : Int(try le(4))
                guard let v = memo[k] else { throw PickleError(description: "pickle memo \(k) missing") }
                stack.append(v)
            case 0x63:                                                 // GLOBAL
                let module = try line(), name = try line()
                stack.append(.global(module: module, name: name))
            case 0x93:                                                 // STACK_GLOBAL
                let name = try pop(), module = try pop()
                stack.append(.global(module: module.asString ?? "", name: name.asString ?? ""))
            case 0x74: stack.append(.tuple(try popMark()))            // TUPLE
            case 0x85: stack.append(.tuple([try pop()]))
            case 0x86: let b = try pop(), a = try pop(); stack.append(.tuple([a, b]))
            case 0x87: let c = try pop(), b = try pop(), a = try pop(); stack.append(.tuple([a, b, c]))
            case 0x6C: let items = try popMark(); let l = PickleList(); l.items = items; stack.append(.list(l))  // LIST
            case 0x64:                                                 // DICT
                let items = try popMark()
                let d = PickleDict()
                var i = 0
                while i + 1 < items.count { d.set(items[i], items[i + 1]); i += 2 }
                stack.append(.dict(d))
            case 0x61:                                                 // APPEND
                let v = try pop()
                guard case .list(let l) = stack.last else { throw PickleError(description: "APPEND to a non-list") }
                l.items.append(v)
            case 0x65:                                                 // APPENDS
                let items = try popMark()
                guard case .list(let l) = stack.last else { throw PickleError(description: "APPENDS to a non-list") }
                l.items += items
            case 0x73:                                                 // SETITEM
                let v = try pop(), k = try pop()
                guard case .dict(let d) = stack.last else { throw PickleError(description: "SETITEM on a non-dict") }
                d.set(k, v)
            case 0x75:                                                 // SETITEMS
                let items = try popMark()
                guard case .dict(let d) = stack.last else { throw PickleError(description: "SETITEMS on a non-dict") }
                var i = 0
                while i + 1 < items.count { d.set(items[i], items[i + 1]); i += 2 }
            case 0x51: stack.append(try persistentLoad(try pop()))    // BINPERSID
            case 0x52, 0x81:                                           // REDUCE, NEWOBJ
                let args = try pop(), callable = try pop()
                let a = args.asTuple ?? []
                stack.append(try reduce(callable, a) ?? .object(callable: callable, args: a, state: nil))
            case 0x62:                                                 // BUILD
                let state = try pop()
                let obj = try pop()
                switch obj {
                case .object(let c, let a, _): stack.append(.object(callable: c, args: a, state: state))
                case .dict(let d):
                    if case .dict(let s) = state { for (k, v) in zip(s.keys, s.values) { d.set(k, v) } }
                    stack.append(obj)
                default: stack.append(obj)
                }
            default:
                throw PickleError(description: String(format: "unsupported pickle opcode 0x%02X at byte %d", op, offset - 1))
            }
        }
    }
}
