import Foundation
import Testing
import TestSupport
@testable import Models
@testable import Torch

/// Model files are untrusted input (issue 15). Each case below is a file built byte by byte to lie in one way the
/// model-file fuzz target (fuzz/Sources/FuzzModelFiles) exercises; every reader must answer with a
/// `CheckpointError`, never trap, overflow, recurse without bound or allocate what the file cannot back. Each
/// hostile file has a well-formed twin that loads, so the builders are known to write the format.
struct HostileModelFileTests {
    // MARK: Pickle builders (protocol 2 opcodes)

    static func u64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    static func str(_ s: String) -> [UInt8] { [0x8C, UInt8(s.utf8.count)] + Array(s.utf8) }          // SHORT_BINUNICODE
    static func long(_ v: UInt64) -> [UInt8] { [0x8A, 8] + u64(v) }                                     // LONG1, 8 bytes
    static func tuple(_ items: [UInt8]...) -> [UInt8] { [0x28] + items.flatMap { $0 } + [0x74] }       // MARK ... TUPLE

    /// A legacy (non-zip) `torch.save` file: a float storage of `storageCount` elements declared in the pickle, a
    /// count of `stored` and `written` floats after it, and `keys` names ("w0", "w1", ...) for one tensor viewing
    /// it with `size`, `stride` and `offset`.
    static func legacyCheckpoint(storageCount: UInt64, stored: Int, written: Int? = nil, size: [UInt64], stride: [UInt64],
                                 offset: UInt8 = 0, keys: Int = 1) -> [UInt8] {
        let persid = tuple(str("storage"), Array("ctorch\nFloatStorage\n".utf8), str("0"), str("cpu"), long(storageCount)) + [0x51]
        let rebuild = Array("ctorch._utils\n_rebuild_tensor_v2\n".utf8)
        let sizes = [0x28] + size.flatMap(long) + [0x74], strides = [0x28] + stride.flatMap(long) + [0x74]
        let tensor = rebuild + tuple(persid, [0x4B, offset], sizes, strides) + [0x52, 0x71, 1]        // ... REDUCE, BINPUT 1
        var root = [0x80, 0x02, 0x7D] + str("w0") + tensor + [0x73]                                   // {"w0": tensor}
        for k in 1..<max(keys, 1) { root += str("w\(k)") + [0x68, 1, 0x73] }                         // "wk": BINGET 1
        let header: [UInt8] = [0x4B, 1, 0x2E] + [0x4D, 0xE9, 0x03, 0x2E] + [0x4E, 0x2E]                 // magic, protocol 1001, sys_info
        let names = tuple(str("0")) + [0x2E]
        return header + root + [0x2E] + names + u64(UInt64(stored)) + [UInt8](repeating: 0, count: 4 * (written ?? stored))
    }

    @Test func legacyCheckpointBuilderWritesTheFormat() throws {
        let sd = try TorchCheckpoint.decode(Self.legacyCheckpoint(storageCount: 3, stored: 3, size: [3], stride: [1]))
        #expect(sd["w0"]?.shape == [3])
        // A view with an offset, and an expanded buffer (stride 0: more elements than its storage) as torch.save
        // writes `torch.zeros(1).expand(1000)`; two names for one tensor (tied weights).
        #expect(try TorchCheckpoint.decode(Self.legacyCheckpoint(storageCount: 3, stored: 3, size: [2], stride: [1], offset: 1))["w0"]?.shape == [2])
        let tied = try TorchCheckpoint.decode(Self.legacyCheckpoint(storageCount: 1, stored: 1, size: [1000], stride: [0], keys: 2))
        #expect(tied["w0"]?.shape == [1000] && tied["w1"]?.shape == [1000])
    }

    @Test("lying checkpoints are refused", arguments: [
        ("storage of 2^62 floats", 1 << 62, 1, 1, [1], [1], 0),
        ("view reaches past the storage", 3, 3, 3, [2], [3], 0),
        ("offset past the storage", 3, 3, 3, [1], [1], 3),
        ("stride overflows", 3, 3, 3, [3], [UInt64(Int.max)], 0),
        ("negative stride", 3, 3, 3, [3], [UInt64.max], 0),
        ("negative dimension", 3, 3, 3, [UInt64.max], [1], 0),
        ("shape of 40 dimensions", 3, 3, 3, Array(repeating: 1, count: 40), Array(repeating: 1, count: 40), 0),
        ("shape and strides of different ranks", 3, 3, 3, [3], [1, 1], 0),
        ("a terabyte through stride 0", 1, 1, 1, [1 << 40], [0], 0),
        ("storage count differs from the pickle's", 1000, 10, 10, [1], [1], 0),
        ("storage bytes missing", 1000, 1000, 10, [1], [1], 0),
    ] as [(String, UInt64, Int, Int, [UInt64], [UInt64], UInt8)])
    func lyingCheckpoint(_ c: (String, UInt64, Int, Int, [UInt64], [UInt64], UInt8)) {
        let bytes = Self.legacyCheckpoint(storageCount: c.1, stored: c.2, written: c.3, size: c.4, stride: c.5, offset: c.6)
        #expect(throws: CheckpointError.self, "\(c.0)") { try TorchCheckpoint.decode(bytes) }
    }

    /// One storage under many names, each copied out: refused once the copies pass a few times what the file's
    /// storages hold (here 3 expanded views of 8M elements over one float; the budget is 4 + 16M elements).
    @Test func copiesBeyondTheStoragesAreRefused() {
        let bytes = Self.legacyCheckpoint(storageCount: 1, stored: 1, size: [8 << 20], stride: [0], keys: 3)
        #expect(throws: CheckpointError.self) { try TorchCheckpoint.decode(bytes) }
    }

    /// BUILD re-applying one memoised dict of 1,000 keys 2,000 times: 2M insertions from a 10 KB pickle.
    @Test func pickleWorkIsBoundedByItsSize() {
        var b: [UInt8] = [0x7D, 0x7D, 0x94, 0x28]                     // target dict; state dict, MEMOIZE (0); MARK
        for k in 0..<1000 { b += Self.str("k\(k)") + [0x4E] }
        b += [0x75, 0x62]                                              // SETITEMS, BUILD
        for _ in 0..<2000 { b += [0x68, 0, 0x62] }                     // BINGET 0, BUILD
        var r = PickleReader(bytes: b + [0x2E])
        #expect(throws: PickleError.self) { _ = try r.read() }
        var once = PickleReader(bytes: Array(b.prefix(b.count - 2000 * 3)) + [0x2E])
        #expect(throws: Never.self) { _ = try once.read() }
    }

    @Test func deepOrCyclicPicklesAreRefused() {
        // A million nested tuples: releasing them recursively would overflow the stack; refused past 256 levels.
        let deep: [UInt8] = [0x80, 0x02, 0x29] + [UInt8](repeating: 0x85, count: 1_000_000) + [0x2E]
        #expect(throws: CheckpointError.self) { try TorchCheckpoint.decode(deep) }
        // 200 levels is fine for the reader (the file is still not a checkpoint).
        var reader = PickleReader(bytes: [0x29] + [UInt8](repeating: 0x85, count: 200) + [0x2E])
        #expect(throws: Never.self) { _ = try reader.read() }
        // A list appended to itself (EMPTY_LIST, MEMOIZE, BINGET 0, APPEND): a cycle that would leak.
        var cyclic = PickleReader(bytes: [0x5D, 0x94, 0x68, 0x00, 0x61, 0x2E])
        #expect(throws: PickleError.self) { _ = try cyclic.read() }
        // The same through a dict nested first and changed after.
        var late = PickleReader(bytes: [0x7D, 0x94, 0x85, 0x68, 0x00, 0x4B, 1, 0x4B, 2, 0x73, 0x2E])
        #expect(throws: PickleError.self) { _ = try late.read() }
        // An exponential DAG (each tuple holds the previous one twice) is cheap to read and to describe in errors.
        var dag: [UInt8] = [0x4E, 0x94]
        for k in 0..<60 { dag += [0x68, UInt8(k), 0x68, UInt8(k), 0x86, 0x94] }
        var root = PickleReader(bytes: dag + [0x2E])
        let v = try? root.read()
        #expect(v?.summary == "a tuple of 2")
    }

    @Test func hugeLengthsAreRefused() {
        for op: UInt8 in [0x8D, 0x8E] {             // BINUNICODE8, BINBYTES8 with 2^64-1 bytes
            var r = PickleReader(bytes: [op] + Self.u64(.max) + [0x2E])
            #expect(throws: PickleError.self) { _ = try r.read() }
        }
    }

    // MARK: Zip container

    /// An end-of-central-directory record claiming `count` members at `directory`.
    static func eocd(count: UInt16, directory: UInt32) -> [UInt8] {
        [0x50, 0x4B, 0x05, 0x06, 0, 0, 0, 0] + withUnsafeBytes(of: count.littleEndian, Array.init) + withUnsafeBytes(of: count.littleEndian, Array.init)
            + [0, 0, 0, 0] + withUnsafeBytes(of: directory.littleEndian, Array.init) + [0, 0]
    }

    @Test func lyingZipDirectoriesAreRefused() throws {
        let head: [UInt8] = [0x50, 0x4B, 0x03, 0x04] + [UInt8](repeating: 0, count: 40)
        for (count, dir) in [(UInt16(0xFFFE), UInt32(0)), (1, 0xFFFF_FFF0), (1, 40), (0xFFFF, 0xFFFF_FFFF)] {
            #expect(throws: CheckpointError.self) { try TorchCheckpoint.decode(head + Self.eocd(count: count, directory: dir)) }
        }
        // A central-directory record whose name runs past the end of the file.
        var cd: [UInt8] = [0x50, 0x4B, 0x01, 0x02] + [UInt8](repeating: 0, count: 42)
        cd[28] = 0xFF; cd[29] = 0xFF
        #expect(throws: CheckpointError.self) { try TorchCheckpoint.decode(head + cd + Self.eocd(count: 1, directory: UInt32(head.count))) }
        // The real fixture still loads through the same reader.
        let good = try [UInt8](Data(contentsOf: URL(fileURLWithPath: TestSupport.fixture("ModelsTests", "ckpt_zip.pt"))))
        #expect(try TorchCheckpoint.decode(good).count > 0)
    }

    // MARK: safetensors and ONNX

    static func safetensors(_ header: String, body: Int) -> Data {
        Data(Self.u64(UInt64(header.utf8.count)) + Array(header.utf8) + [UInt8](repeating: 0, count: body))
    }

    @Test func lyingSafetensorsAreRefused() throws {
        #expect(try Safetensors.decode(Self.safetensors(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, body: 8)).tensors["w"]?.shape == [2])
        for shape in ["[4294967296,4294967296]", "[-1,-8]", "[3037000500,3037000500]", "[" + Array(repeating: "1", count: 40).joined(separator: ",") + "]"] {
            let h = #"{"w":{"dtype":"F32","shape":"# + shape + #","data_offsets":[0,0]}}"#
            #expect(throws: CheckpointError.self, "\(shape)") { try Safetensors.decode(Self.safetensors(h, body: 0)) }
        }
        #expect(throws: CheckpointError.self) {
            try Safetensors.decode(Self.safetensors(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[-9223372036854775807,8]}}"#, body: 8))
        }
        // Two names over the same bytes (the format forbids it; each would be copied); side by side is fine.
        let overlap = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        #expect(throws: CheckpointError.self) { try Safetensors.decode(Self.safetensors(overlap, body: 8)) }
        let adjacent = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#
        #expect(try Safetensors.decode(Self.safetensors(adjacent, body: 16)).tensors.count == 2)
    }

    static func varint(_ v: UInt64) -> [UInt8] {
        var v = v, out: [UInt8] = []
        repeat { out.append(UInt8(v & 0x7F) | (v > 0x7F ? 0x80 : 0)); v >>= 7 } while v > 0
        return out
    }
    static func field(_ n: Int, _ payload: [UInt8]) -> [UInt8] { varint(UInt64(n << 3 | 2)) + varint(UInt64(payload.count)) + payload }
    /// An ONNX model with one raw float initializer "w" of `dims` and `raw` bytes.
    static func onnx(dims: [UInt64], raw: Int) -> [UInt8] {
        let tensor = dims.flatMap { [0x08] + varint($0) } + [0x10, 0x01] + field(8, Array("w".utf8)) + field(9, [UInt8](repeating: 0, count: raw))
        return field(7, field(5, tensor))
    }

    @Test func lyingONNXFilesAreRefused() throws {
        #expect(try ONNXGraph(bytes: Self.onnx(dims: [2, 3], raw: 24)).initializers["w"]?.shape == [2, 3])
        for dims: [UInt64] in [[1 << 62, 1 << 62], [UInt64.max], [UInt64(Int.max) + 1], [1 << 31, 1 << 31, 4], [0, 1 << 40, 1 << 40]] {
            #expect(throws: CheckpointError.self, "\(dims)") { try ONNXGraph(bytes: Self.onnx(dims: dims, raw: 0)) }
        }
        // A length-delimited field claiming 2^63 bytes.
        #expect(throws: CheckpointError.self) { try ONNXGraph(bytes: [0x3A] + Self.varint(1 << 63) + [0, 0]) }
    }

    // MARK: Kept fuzz findings

    static var regressions: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: TestSupport.fixture("ModelsTests", "fuzz"))) ?? []).sorted()
    }

    @Test("a fuzz finding gives a typed error from every reader", arguments: HostileModelFileTests.regressions)
    func fuzzFinding(_ name: String) throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: TestSupport.fixture("ModelsTests", "fuzz/\(name)"))))
        for read in [{ _ = try Safetensors.decode(Data(bytes)) }, { _ = try TorchCheckpoint.decode(bytes) }, { _ = try ONNXGraph(bytes: bytes) }] {
            do { try read() } catch is CheckpointError {} catch { Issue.record("\(name): \(error) is not a CheckpointError") }
        }
    }
}
