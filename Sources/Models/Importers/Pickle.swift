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
    /// A one-line description for error messages (never recursive: a value may share items exponentially).
    var summary: String {
        switch self {
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .float(let f): return String(f)
        case .string(let s): return "'\(s.prefix(60))'"
        case .bytes(let b): return "\(b.count) bytes"
        case .tuple(let t): return "a tuple of \(t.count)"
        case .list(let l): return "a list of \(l.items.count)"
        case .dict(let d): return "a dict of \(d.keys.count)"
        case .global(let m, let n): return "\(m.prefix(60)).\(n.prefix(60))"
        case .object(let c, _, _): return "an object of \(c.summary)"
        case .external: return "a storage"
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

/// A list being built by the pickle. Once nested in another container it is sealed: a pickle that changes it after
/// that is refused, so no container can hold itself (no cycle to leak) and every value's nesting depth is known.
final class PickleList {
    var items: [PickleValue] = []
    var depth = 1
    var sealed = false
}
final class PickleDict {
    private(set) var keys: [PickleValue] = []
    private(set) var values: [PickleValue] = []
    private var index: [String: Int] = [:]
    var depth = 1
    var sealed = false
    func set(_ k: PickleValue, _ v: PickleValue) {
        if let s = k.asString {
            if let i = index[s] { values[i] = v; return }
            index[s] = keys.count
        }
        keys.append(k)
        values.append(v)
    }
    subscript(_ key: String) -> PickleValue? { index[key].map { values[$0] } }
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

    /// Values on the stack and their nesting depths (a scalar 0, a container one more than its deepest item).
    private var stack: [PickleValue] = []
    private var depths: [Int] = []
    private var marks: [Int] = []
    private var memo: [Int: (value: PickleValue, depth: Int)] = [:]
    /// Deeper nesting is refused: releasing a value is recursive, so a pickle of a million nested tuples would
    /// otherwise overflow the stack. `torch.save` nests a few levels.
    static let maxDepth = 256
    /// Work done (dict insertions, weighted by key length): a pickle may not do much more than its size implies
    /// (BUILD can re-apply one memoised dict of N keys for 3 bytes, so work is not otherwise bounded by length).
    private var work = 0
    private mutating func spend(on keys: some Collection<PickleValue>) throws {
        for k in keys { work += 1 + (k.asString?.utf8.count ?? 0) / 64 }
        guard work <= Swift.max(1 << 20, 16 * bytes.count) else {
            throw PickleError(description: "pickle does more work than its \(bytes.count) bytes justify (at byte \(offset))")
        }
    }

    init(bytes: [UInt8], offset: Int = 0, persistentLoad: @escaping (PickleValue) throws -> PickleValue = { _ in .none },
         reduce: @escaping (PickleValue, [PickleValue]) throws -> PickleValue? = { _, _ in nil }) {
        self.bytes = bytes
        self.offset = offset
        self.persistentLoad = persistentLoad
        self.reduce = reduce
    }

    private mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, n <= bytes.count - offset else { throw PickleError(description: "truncated pickle at byte \(offset)") }
        defer { offset += n }
        return bytes[offset..<(offset + n)]
    }
    private mutating func u8() throws -> Int { Int(try take(1).first!) }
    /// A little-endian unsigned length or index; values beyond Int.max become Int.max (and fail where used).
    private mutating func le(_ n: Int) throws -> Int {
        Int(clamping: try take(n).enumerated().reduce(UInt64(0)) { $0 | (UInt64($1.element) << (8 * UInt64($1.offset))) })
    }
    private mutating func line() throws -> String {
        guard let end = bytes[offset...].firstIndex(of: 0x0A) else { throw PickleError(description: "unterminated line in pickle") }
        let s = String(decoding: bytes[offset..<end], as: UTF8.self)
        offset = end + 1
        return s
    }
    /// The depth of `v` now: lists and dicts carry their own (they grow while on the stack).
    private func depth(_ v: PickleValue, _ recorded: Int) -> Int {
        switch v {
        case .list(let l): return l.depth
        case .dict(let d): return d.depth
        default: return recorded
        }
    }
    private func checkDepth(_ d: Int) throws {
        guard d <= Self.maxDepth else { throw PickleError(description: "pickle nests deeper than \(Self.maxDepth) levels at byte \(offset)") }
    }
    private mutating func push(_ v: PickleValue, depth d: Int = 0) throws {
        try checkDepth(d)
        stack.append(v)
        depths.append(d)
    }
    private mutating func pop() throws -> (value: PickleValue, depth: Int) {
        guard let v = stack.popLast(), let d = depths.popLast() else { throw PickleError(description: "pickle stack underflow at byte \(offset)") }
        return (v, depth(v, d))
    }
    private mutating func popMark() throws -> [(value: PickleValue, depth: Int)] {
        guard let m = marks.popLast(), m <= stack.count else { throw PickleError(description: "pickle MARK missing at byte \(offset)") }
        let items = zip(stack[m...], depths[m...]).map { ($0, depth($0, $1)) }
        stack.removeSubrange(m...)
        depths.removeSubrange(m...)
        return items
    }
    /// Seals the containers among `items` (they are being nested) and returns the depth of a container holding them.
    private func nest(_ items: [(value: PickleValue, depth: Int)]) -> Int {
        for (v, _) in items {
            if case .list(let l) = v { l.sealed = true } else if case .dict(let d) = v { d.sealed = true }
        }
        return 1 + (items.map(\.depth).max() ?? 0)
    }
    /// The list or dict on top of the stack, to be changed: refused once it is nested somewhere.
    private func openTop(_ what: String) throws -> PickleValue {
        guard let top = stack.last else { throw PickleError(description: "\(what) on an empty stack at byte \(offset)") }
        let sealed: Bool
        switch top {
        case .list(let l): sealed = l.sealed
        case .dict(let d): sealed = d.sealed
        default: sealed = false
        }
        if sealed { throw PickleError(description: "\(what) changes a container already nested in another (cycles are not supported)") }
        return top
    }
    /// Records that the container on top of the stack now holds items as deep as `itemsDepth`.
    private mutating func grewTop(to itemsDepth: Int) throws {
        let d = itemsDepth + 1
        try checkDepth(d)
        switch stack.last {
        case .list(let l)?: l.depth = max(l.depth, d)
        case .dict(let x)?: x.depth = max(x.depth, d)
        default: break
        }
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
            case 0x2E: return try pop().value                         // STOP
            case 0x28: marks.append(stack.count)                      // MARK
            case 0x7D: try push(.dict(PickleDict()), depth: 1)        // EMPTY_DICT
            case 0x5D: try push(.list(PickleList()), depth: 1)        // EMPTY_LIST
            case 0x29: try push(.tuple([]), depth: 1)                 // EMPTY_TUPLE
            case 0x4E: try push(.none)
            case 0x88: try push(.bool(true))
            case 0x89: try push(.bool(false))
            case 0x4B: try push(.int(try u8()))                       // BININT1
            case 0x4D: try push(.int(try le(2)))                      // BININT2
            case 0x4A: try push(.int(signedLE(try take(4))))          // BININT
            case 0x8A: let n = try u8(); try push(.int(signedLE(try take(n))))        // LONG1
            case 0x8B: let n = try le(4); try push(.int(signedLE(try take(n))))       // LONG4
            case 0x49, 0x4C:                                           // INT, LONG (text)
                var s = try line()
                if s.hasSuffix("L") { s.removeLast() }
                if s == "01" { try push(.bool(true)) } else if s == "00" { try push(.bool(false)) } else {
                    guard let v = Int(s) else { throw PickleError(description: "bad INT '\(s.prefix(40))'") }
                    try push(.int(v))
                }
            case 0x47:                                                 // BINFLOAT (big endian)
                let b = try take(8)
                let bits = b.reduce(UInt64(0)) { ($0 << 8) | UInt64($1) }
                try push(.float(Double(bitPattern: bits)))
            case 0x58, 0x8C, 0x8D, 0x55, 0x54:                         // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8, SHORT_BINSTRING, BINSTRING
                let n = op == 0x8C || op == 0x55 ? try u8() : try le(op == 0x8D ? 8 : 4)
                try push(.string(String(decoding: try take(n), as: UTF8.self)))
            case 0x43, 0x42, 0x8E:                                     // SHORT_BINBYTES, BINBYTES, BINBYTES8
                let n = op == 0x43 ? try u8() : try le(op == 0x8E ? 8 : 4)
                try push(.bytes(Array(try take(n))))
            case 0x71, 0x72, 0x94:                                     // BINPUT, LONG_BINPUT, MEMOIZE
                let k = op == 0x71 ? try u8() : op == 0x72 ? try le(4) : memo.count
                if let v = stack.last, let d = depths.last { memo[k] = (v, d) } else { memo[k] = nil }
            case 0x68, 0x6A:                                           // BINGET, LONG_BINGET
                let k = op == 0x68 ? try u8() : try le(4)
                guard let m = memo[k] else { throw PickleError(description: "pickle memo \(k) missing") }
                try push(m.value, depth: depth(m.value, m.depth))
            case 0x63:                                                 // GLOBAL
                let module = try line(), name = try line()
                try push(.global(module: module, name: name))
            case 0x93:                                                 // STACK_GLOBAL
                let name = try pop().value, module = try pop().value
                try push(.global(module: module.asString ?? "", name: name.asString ?? ""))
            case 0x74, 0x85, 0x86, 0x87:                               // TUPLE, TUPLE1, TUPLE2, TUPLE3
                var items: [(value: PickleValue, depth: Int)] = []
                if op == 0x74 { items = try popMark() } else {
                    for _ in 0..<(op - 0x84) { items.insert(try pop(), at: 0) }
                }
                try push(.tuple(items.map(\.value)), depth: nest(items))
            case 0x6C:                                                 // LIST
                let items = try popMark()
                let l = PickleList()
                l.items = items.map(\.value)
                l.depth = nest(items)
                try push(.list(l), depth: l.depth)
            case 0x64:                                                 // DICT
                let items = try popMark()
                let d = PickleDict()
                try spend(on: stride(from: 0, to: items.count, by: 2).map { items[$0].value })
                var i = 0
                while i + 1 < items.count { d.set(items[i].value, items[i + 1].value); i += 2 }
                d.depth = nest(items)
                try push(.dict(d), depth: d.depth)
            case 0x61, 0x65:                                           // APPEND, APPENDS
                let items = op == 0x61 ? [try pop()] : try popMark()
                let d = nest(items)   // sealed first: a list appended to itself is then refused below
                guard case .list(let l) = try openTop("APPEND") else { throw PickleError(description: "APPEND to a non-list") }
                try grewTop(to: d - 1)
                l.items += items.map(\.value)
            case 0x73, 0x75:                                           // SETITEM, SETITEMS
                var items: [(value: PickleValue, depth: Int)] = []
                if op == 0x73 { let v = try pop(), k = try pop(); items = [k, v] } else { items = try popMark() }
                let depth = nest(items)
                guard case .dict(let d) = try openTop("SETITEM") else { throw PickleError(description: "SETITEM on a non-dict") }
                try grewTop(to: depth - 1)
                try spend(on: stride(from: 0, to: items.count, by: 2).map { items[$0].value })
                var i = 0
                while i + 1 < items.count { d.set(items[i].value, items[i + 1].value); i += 2 }
            case 0x51:                                                 // BINPERSID
                let pid = try pop()
                _ = nest([pid])   // the callback may keep it: no longer changeable
                let v = try persistentLoad(pid.value)
                try push(v, depth: depth(v, pid.depth + 1))
            case 0x52, 0x81:                                           // REDUCE, NEWOBJ
                let args = try pop(), callable = try pop()
                let a = args.value.asTuple ?? []
                let d = nest([args, callable])
                if let v = try reduce(callable.value, a) {
                    try push(v, depth: depth(v, d))
                } else {
                    try push(.object(callable: callable.value, args: a, state: nil), depth: d)
                }
            case 0x62:                                                 // BUILD
                let state = try pop()
                let obj = try pop()
                switch obj.value {
                case .object(let c, let a, _):
                    try push(.object(callable: c, args: a, state: state.value), depth: max(obj.depth, nest([state])))
                case .dict(let d):
                    if case .dict(let s) = state.value {
                        let depth = nest([state])
                        guard !d.sealed else { throw PickleError(description: "BUILD changes a dict already nested in another") }
                        d.depth = max(d.depth, depth)
                        try spend(on: s.keys)
                        for (k, v) in zip(s.keys, s.values) { d.set(k, v) }
                    }
                    try push(obj.value, depth: d.depth)
                default: try push(obj.value, depth: obj.depth)
                }
            default:
                throw PickleError(description: String(format: "unsupported pickle opcode 0x%02X at byte %d", op, offset - 1))
            }
        }
    }
}
