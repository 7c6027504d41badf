// A minimal ONNX reader: the protobuf wire format decoded by hand for the few fields needed to take
// weights out of a model (graph initializers and the nodes that consume them). No operator is executed.
import Foundation
import Torch

/// An ONNX graph's initializers and nodes.
public struct ONNXGraph {
    public struct Node {
        public let opType: String
        public let name: String
        public let inputs: [String]
        public let outputs: [String]
    }
    /// Initializers by name, as tensors (float32, int8, uint8, int32, int64, float64, float16).
    public let initializers: [String: Tensor]
    public let nodes: [Node]

    /// Parses an ONNX model file.
    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CheckpointError.unreadable(path: path, reason: "no such file or not readable")
        }
        try self.init(bytes: [UInt8](data), path: path)
    }

    /// Parses the bytes of an ONNX model file (`path` is used only in error messages).
    public init(bytes: [UInt8], path: String = "<memory>") throws {
        do { try self.init(parsing: bytes) } catch let e as PickleError {
            throw CheckpointError.malformed(path: path, reason: e.description)
        }
    }

    init(parsing b: [UInt8]) throws {
        var graph: Range<Int>?
        try Protobuf.fields(b, 0..<b.count) { f, _, _, range in if f == 7 { graph = range } }
        guard let g = graph else { throw PickleError(description: "ONNX model has no graph") }
        var inits: [String: Tensor] = [:]
        var nodes: [Node] = []
        try Protobuf.fields(b, g) { f, _, _, range in
            guard let r = range else { return }
            if f == 5 {
                let (name, t) = try Self.tensor(b, r)
                inits[name] = t
            } else if f == 1 {
                var op = "", name = "", ins: [String] = [], outs: [String] = []
                try Protobuf.fields(b, r) { nf, _, _, nr in
                    guard let nr else { return }
                    let s = String(decoding: b[nr], as: UTF8.self)
                    switch nf {
                    case 1: ins.append(s)
                    case 2: outs.append(s)
                    case 3: name = s
                    case 4: op = s
                    default: break
                    }
                }
                nodes.append(Node(opType: op, name: name, inputs: ins, outputs: outs))
            }
        }
        initializers = inits
        self.nodes = nodes
    }

    /// TensorProto -> (name, tensor). Data types: 1 float, 2 uint8, 3 int8, 6 int32, 7 int64, 10 float16, 11 double.
    static func tensor(_ b: [UInt8], _ r: Range<Int>) throws -> (String, Tensor) {
        var dims: [Int] = [], dtype = 0, name = "", raw: Range<Int>?
        var floats: [Float] = [], ints: [Int64] = [], int32s: [Int32] = []
        try Protobuf.fields(b, r) { f, wire, value, range in
            switch (f, wire) {
            case (1, 0): dims.append(Int(truncatingIfNeeded: value))     // int64: a negative dimension is refused below
            case (1, 2): dims += try Protobuf.packedVarints(b, range!).map { Int(truncatingIfNeeded: $0) }
            case (2, 0): dtype = Int(truncatingIfNeeded: value)
            case (4, 2): floats += Protobuf.packedFloats(b, range!)
            case (4, 5): floats.append(Float(bitPattern: UInt32(truncatingIfNeeded: value)))
            case (5, 2): int32s += try Protobuf.packedVarints(b, range!).map { Int32(truncatingIfNeeded: $0) }
            case (5, 0): int32s.append(Int32(truncatingIfNeeded: value))
            case (7, 2): ints += try Protobuf.packedVarints(b, range!).map { Int64(bitPattern: $0) }
            case (7, 0): ints.append(Int64(bitPattern: value))
            case (8, 2): name = String(decoding: b[range!], as: UTF8.self)
            case (9, 2): raw = range
            case (14, 0): if value == 1 { throw PickleError(description: "tensor uses external data (not supported)") }
            default: break
            }
        }
        let types: [Int: DType] = [1: .float32, 2: .uint8, 3: .int8, 5: .int16, 6: .int32, 7: .int64, 9: .bool, 10: .float16, 11: .float64]
        guard let dt = types[dtype] else { throw PickleError(description: "initializer \(name) has unsupported data type \(dtype)") }
        guard let (count, byteCount) = Tensor.checkedSize(shape: dims, dtype: dt) else {
            throw PickleError(description: "initializer \(name.prefix(80)) has an impossible shape \(dims.prefix(8))")
        }
        let t: Tensor
        if let raw {
            guard raw.count == byteCount else {
                throw PickleError(description: "initializer \(name): \(raw.count) bytes for \(dims) of \(dt)")
            }
            t = b.withUnsafeBytes { Tensor(bytes: UnsafeRawBufferPointer(rebasing: $0[raw]), shape: dims, dtype: dt) }
        } else if !floats.isEmpty || dt == .float32 {
            guard floats.count == count else { throw PickleError(description: "initializer \(name): \(floats.count) floats for \(dims)") }
            t = Tensor(floats, shape: dims)
        } else if dt == .int64 {
            guard ints.count == count else { throw PickleError(description: "initializer \(name): \(ints.count) values for \(dims)") }
            t = Tensor(ints, shape: dims)
        } else {
            // int8/uint8/int16/int32/bool values are stored widened in int32_data.
            guard int32s.count == count else { throw PickleError(description: "initializer \(name): \(int32s.count) values for \(dims)") }
            t = Tensor(int32s, shape: dims).to(dt)
        }
        return (name, t)
    }
}

/// Protobuf wire-format helpers.
enum Protobuf {
    static func varint(_ b: [UInt8], _ i: inout Int, _ end: Int) throws -> UInt64 {
        var r: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard i < end, shift < 64 else { throw PickleError(description: "truncated protobuf varint") }
            let c = b[i]
            i += 1
            r |= UInt64(c & 0x7F) << shift
            if c < 0x80 { return r }
            shift += 7
        }
    }
    /// Calls `body(field, wireType, varintOrFixedValue, lengthDelimitedRange)` for each field in `range`.
    static func fields(_ b: [UInt8], _ range: Range<Int>, _ body: (Int, Int, UInt64, Range<Int>?) throws -> Void) throws {
        var i = range.lowerBound
        let end = range.upperBound
        while i < end {
            let key = try varint(b, &i, end)
            let field = Int(key >> 3), wire = Int(key & 7)
            switch wire {
            case 0: try body(field, wire, try varint(b, &i, end), nil)
            case 1:
                guard i + 8 <= end else { throw PickleError(description: "truncated protobuf fixed64") }
                let v = (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[i + $1]) << (8 * UInt64($1)) }
                i += 8
                try body(field, wire, v, nil)
            case 2:
                let n = Int(clamping: try varint(b, &i, end))
                guard n <= end - i else { throw PickleError(description: "protobuf field \(field) overruns its message") }
                try body(field, wire, 0, i..<(i + n))
                i += n
            case 5:
                guard i + 4 <= end else { throw PickleError(description: "truncated protobuf fixed32") }
                let v = (0..<4).reduce(UInt64(0)) { $0 | UInt64(b[i + $1]) << (8 * UInt64($1)) }
                i += 4
                try body(field, wire, v, nil)
            default:
                throw PickleError(description: "unsupported protobuf wire type \(wire)")
            }
        }
    }
    static func packedVarints(_ b: [UInt8], _ r: Range<Int>) throws -> [UInt64] {
        var out: [UInt64] = [], i = r.lowerBound
        while i < r.upperBound { out.append(try varint(b, &i, r.upperBound)) }
        return out
    }
    static func packedFloats(_ b: [UInt8], _ r: Range<Int>) -> [Float] {
        stride(from: r.lowerBound, to: r.upperBound - 3, by: 4).map { o in
            Float(bitPattern: UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24)
        }
    }
}
