// Reads PyTorch checkpoints (`torch.save`) without Python: the zip container of PyTorch >= 1.6
// (`archive/data.pkl` + `archive/data/<key>`) and the legacy format (a run of pickles followed by raw
// storages), holding a state dict directly or under "state_dict" / "model" / "model_state_dict".
import Foundation
import Torch

final class StorageRef {
    let key: String, dtype: DType, count: Int
    var tensor: Tensor?
    init(key: String, dtype: DType, count: Int) {
        self.key = key
        self.dtype = dtype
        self.count = count
    }
}

final class TensorRef {
    let storage: StorageRef, offset: Int, shape: [Int], strides: [Int]
    init(storage: StorageRef, offset: Int, shape: [Int], strides: [Int]) {
        self.storage = storage
        self.offset = offset
        self.shape = shape
        self.strides = strides
    }
}

public enum TorchCheckpoint {
    static let storageTypes: [String: DType] = [
        "FloatStorage": .float32, "DoubleStorage": .float64, "HalfStorage": .float16, "BFloat16Storage": .bfloat16,
        "LongStorage": .int64, "IntStorage": .int32, "ShortStorage": .int16, "CharStorage": .int8,
        "ByteStorage": .uint8, "BoolStorage": .bool,
    ]

    /// Loads the tensors of a PyTorch checkpoint as a flat state dict.
    /// - Parameter stripPrefixes: key prefixes removed when present (DataParallel's "module.").
    /// - Throws: `CheckpointError` naming the file and the problem.
    public static func load(path: String, stripPrefixes: [String] = ["module."]) throws -> [String: Tensor] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CheckpointError.unreadable(path: path, reason: "no such file or not readable")
        }
        return try decode([UInt8](data), path: path, stripPrefixes: stripPrefixes)
    }

    /// Decodes the bytes of a PyTorch checkpoint (`path` is used only in error messages).
    public static func decode(_ bytes: [UInt8], path: String = "<memory>", stripPrefixes: [String] = ["module."]) throws -> [String: Tensor] {
        do {
            let root: PickleValue
            if bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) {
                root = try loadZip(bytes)
            } else {
                root = try loadLegacy(bytes)
            }
            var dict = stateDictValue(root)
            guard let d = dict else { throw PickleError(description: "no dict of tensors at the top level") }
            var out: [String: Tensor] = [:]
            var refs: [(String, TensorRef)] = []
            for (k, v) in zip(d.keys, d.values) {
                guard var key = k.asString, case .external(let obj) = v, let ref = obj as? TensorRef else { continue }
                for p in stripPrefixes where key.hasPrefix(p) { key.removeFirst(p.count) }
                refs.append((key, ref))
            }
            // Every view is copied out, so what the file's storages hold bounds what may be made from them: a few
            // times their size (tied weights, views, small expanded buffers) and 16M elements more. Without it, a
            // 1 MB file naming one storage under 75,000 keys would make 37 GB of copies.
            var storages = Set<ObjectIdentifier>(), held = 0
            for (_, ref) in refs where storages.insert(ObjectIdentifier(ref.storage)).inserted { held += ref.storage.count }
            var budget = 4 * held + (16 << 20)
            for (key, ref) in refs { out[key] = try materialise(ref, budget: &budget) }
            dict = nil
            if out.isEmpty { throw PickleError(description: "the checkpoint holds no tensors") }
            return out
        } catch let e as PickleError {
            throw CheckpointError.malformed(path: path, reason: e.description)
        }
    }

    static func stateDictValue(_ v: PickleValue) -> PickleDict? {
        guard case .dict(let d) = v else { return nil }
        for key in ["state_dict", "model_state_dict", "model", "state"] {
            if let inner = d[key], case .dict(let sd) = inner { return sd }
        }
        return d
    }

    /// Copies a view out of its storage, spending its element count from `budget`.
    static func materialise(_ ref: TensorRef, budget: inout Int) throws -> Tensor {
        guard let base = ref.storage.tensor else { throw PickleError(description: "storage \(ref.storage.key) has no data") }
        // The last element a view of this shape, strides and offset reaches must lie inside the storage; every
        // product is checked (a file can claim any numbers).
        guard ref.shape.count == ref.strides.count, ref.offset >= 0, ref.strides.allSatisfy({ $0 >= 0 }),
              Tensor.checkedSize(shape: ref.shape, dtype: ref.storage.dtype) != nil else {
            throw PickleError(description: "tensor view of storage \(ref.storage.key) has an impossible shape \(ref.shape.prefix(8)), strides or offset")
        }
        if ref.shape.contains(0) { return Tensor.zeros(ref.shape, dtype: ref.storage.dtype) }
        // Views with stride 0 (expanded buffers) may have more elements than their storage; all views together
        // may not exceed the budget.
        let elements = ref.shape.reduce(1, *)   // checked above
        guard elements <= budget else {
            throw PickleError(description: "the checkpoint's tensor views would copy out more than its storages justify (a view of \(ref.shape.prefix(8)) over storage \(ref.storage.key) of \(ref.storage.count))")
        }
        budget -= elements
        var needed = ref.offset
        for (n, st) in zip(ref.shape, ref.strides) {
            let (reach, o1) = (n - 1).multipliedReportingOverflow(by: st)
            let (sum, o2) = needed.addingReportingOverflow(reach)
            guard !o1, !o2 else { throw PickleError(description: "tensor view of storage \(ref.storage.key) overflows") }
            needed = sum
        }
        guard needed < ref.storage.count else {
            throw PickleError(description: "tensor view exceeds its storage \(ref.storage.key) (\(needed + 1) > \(ref.storage.count))")
        }
        return base.asStrided(shape: ref.shape, strides: ref.strides, offset: ref.offset, copy: true)
    }

    // MARK: Unpickling callbacks

    static func persistentLoad(_ pid: PickleValue, storages: inout [String: StorageRef]) throws -> PickleValue {
        guard let t = pid.asTuple, t.count >= 5, t[0].asString == "storage", let key = t[2].asString, let n = t[4].asInt else {
            throw PickleError(description: "unsupported persistent id")
        }
        guard case .global(_, let typeName) = t[1], let dtype = storageTypes[typeName] else {
            throw PickleError(description: "unsupported storage type \(t[1].summary)")
        }
        if let s = storages[key] { return .external(s) }
        guard n >= 0, Tensor.checkedSize(shape: [n], dtype: dtype) != nil else { throw PickleError(description: "storage \(key.prefix(60)) claims \(n) elements") }
        let s = StorageRef(key: key, dtype: dtype, count: n)
        storages[key] = s
        return .external(s)
    }

    static func reduce(_ callable: PickleValue, _ args: [PickleValue]) throws -> PickleValue? {
        guard case .global(let module, let name) = callable else { return nil }
        switch (module, name) {
        case ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"):
            // Shape and strides: tuples of at most `maxFileRank` ints (checked before anything is built from them).
            func ints(_ v: PickleValue) -> [Int]? {
                guard let t = v.asTuple, t.count <= Tensor.maxFileRank else { return nil }
                let out = t.compactMap(\.asInt)
                return out.count == t.count ? out : nil
            }
            guard args.count >= 4, case .external(let o) = args[0], let s = o as? StorageRef, let off = args[1].asInt,
                  let size = ints(args[2]), let stride = ints(args[3]) else {
                throw PickleError(description: "malformed tensor record")
            }
            return .external(TensorRef(storage: s, offset: off, shape: size, strides: stride))
        case ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"):
            return args.first
        case ("collections", "OrderedDict"):
            return .dict(PickleDict())
        default:
            return nil
        }
    }

    // MARK: Containers

    static func loadLegacy(_ bytes: [UInt8]) throws -> PickleValue {
        var offset = 0
        func next(_ persistent: ((PickleValue) throws -> PickleValue)? = nil) throws -> PickleValue {
            var r = PickleReader(bytes: bytes, offset: offset, persistentLoad: persistent ?? { _ in .none }, reduce: reduce)
            let v = try r.read()
            offset = r.offset
            return v
        }
        _ = try next()                                  // magic number
        let proto = try next()
        guard proto.asInt == 1001 else { throw PickleError(description: "not a PyTorch checkpoint (protocol \(proto.summary))") }
        _ = try next()                                  // sys_info
        var storages: [String: StorageRef] = [:]
        let root = try next { try persistentLoad($0, storages: &storages) }
        guard let keys = try next().asTuple?.compactMap({ $0.asString }) else { throw PickleError(description: "missing storage key list") }
        for key in keys {
            guard let s = storages[key] else { throw PickleError(description: "storage \(key) listed but never referenced") }
            guard offset + 8 <= bytes.count else { throw PickleError(description: "truncated before storage \(key)") }
            let n = Int(clamping: bytes[offset..<(offset + 8)].enumerated().reduce(UInt64(0)) { $0 | (UInt64($1.element) << (8 * UInt64($1.offset))) })
            offset += 8
            let nbytes = s.count * s.dtype.size   // checked when the storage was declared
            guard n == s.count, nbytes <= bytes.count - offset else { throw PickleError(description: "storage \(key) is truncated") }
            s.tensor = bytes.withUnsafeBytes { raw in
                Tensor(bytes: UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + nbytes)]), shape: [n], dtype: s.dtype)
            }
            offset += nbytes
        }
        return root
    }

    static func loadZip(_ bytes: [UInt8]) throws -> PickleValue {
        let entries = try ZipArchive.entries(bytes)
        guard let pkl = entries.filter({ $0.key.hasSuffix("data.pkl") }).min(by: { $0.key.count < $1.key.count }) else {
            throw PickleError(description: "zip checkpoint without data.pkl")
        }
        let prefix = String(pkl.key.dropLast("data.pkl".count))
        var storages: [String: StorageRef] = [:]
        var reader = PickleReader(bytes: Array(bytes[pkl.value]), persistentLoad: { try persistentLoad($0, storages: &storages) }, reduce: reduce)
        let root = try reader.read()
        for (key, s) in storages {
            guard let range = entries[prefix + "data/" + key] else { throw PickleError(description: "zip checkpoint lacks data/\(key)") }
            guard range.count == s.count * s.dtype.size else { throw PickleError(description: "storage \(key) has \(range.count) bytes, expected \(s.count * s.dtype.size)") }
            s.tensor = bytes.withUnsafeBytes { raw in Tensor(bytes: UnsafeRawBufferPointer(rebasing: raw[range]), shape: [s.count], dtype: s.dtype) }
        }
        return root
    }
}

/// Reads the member table of an uncompressed ("stored") zip archive, as `torch.save` writes it.
enum ZipArchive {
    static func entries(_ b: [UInt8]) throws -> [String: Range<Int>] {
        // Every read is bounds-checked and every offset a file gives is taken as an untrusted number.
        func u16(_ o: Int) throws -> Int {
            guard o >= 0, o <= b.count - 2 else { throw PickleError(description: "zip record at \(o) is out of the file") }
            return Int(b[o]) | Int(b[o + 1]) << 8
        }
        func u32(_ o: Int) throws -> Int { try u16(o) | (try u16(o + 2)) << 16 }
        func u64(_ o: Int) throws -> Int {
            let v = UInt64(try u32(o)) | UInt64(try u32(o + 4)) << 32
            guard let i = Int(exactly: v), i <= b.count else { throw PickleError(description: "zip offset or size \(v) exceeds the file") }
            return i
        }
        // End of central directory: scan back for PK\x05\x06.
        var eocd = -1
        var i = b.count - 22
        while i >= max(0, b.count - 22 - 65_557) {
            if b[i] == 0x50, b[i + 1] == 0x4B, b[i + 2] == 0x05, b[i + 3] == 0x06 { eocd = i; break }
            i -= 1
        }
        guard eocd >= 0 else { throw PickleError(description: "zip end-of-directory record not found") }
        var count = try u16(eocd + 10)
        var cd = try u32(eocd + 16)
        if cd == 0xFFFF_FFFF || count == 0xFFFF {
            // ZIP64: locator precedes the EOCD.
            let loc = eocd - 20
            guard loc >= 0, try u32(loc) == 0x0706_4B50 else { throw PickleError(description: "zip64 locator missing") }
            let z = try u64(loc + 8)
            guard try u32(z) == 0x0606_4B50 else { throw PickleError(description: "zip64 directory missing") }
            count = try u64(z + 32)
            cd = try u64(z + 48)
        }
        // Each central-directory record takes at least 46 bytes: a count the file cannot hold is a lie.
        guard count <= (b.count - cd) / 46 else { throw PickleError(description: "zip directory claims \(count) members") }
        var out: [String: Range<Int>] = [:]
        var p = cd
        for _ in 0..<count {
            guard try u32(p) == 0x0201_4B50 else { throw PickleError(description: "corrupt zip central directory") }
            let method = try u16(p + 10)
            var size = try u32(p + 20)
            let nameLen = try u16(p + 28), extraLen = try u16(p + 30), commentLen = try u16(p + 32)
            var local = try u32(p + 42)
            let recordEnd = p + 46 + nameLen + extraLen + commentLen
            guard recordEnd <= b.count else { throw PickleError(description: "zip directory record at \(p) is truncated") }
            let name = String(decoding: b[(p + 46)..<(p + 46 + nameLen)], as: UTF8.self)
            // ZIP64 extra field carries sizes/offsets set to 0xFFFFFFFF.
            var e = p + 46 + nameLen
            let eEnd = e + extraLen
            while e + 4 <= eEnd {
                let id = try u16(e), len = try u16(e + 2)
                if id == 1 {
                    var q = e + 4
                    if try u32(p + 24) == 0xFFFF_FFFF { q += 8 }      // uncompressed size
                    if size == 0xFFFF_FFFF { size = try u64(q); q += 8 }
                    if local == 0xFFFF_FFFF { local = try u64(q) }
                }
                e += 4 + len
            }
            guard method == 0 else { throw PickleError(description: "zip member \(name.prefix(80)) is compressed (method \(method))") }
            guard try u32(local) == 0x0403_4B50 else { throw PickleError(description: "corrupt zip local header for \(name.prefix(80))") }
            let start = local + 30 + (try u16(local + 26)) + (try u16(local + 28))
            guard start <= b.count, size <= b.count - start else { throw PickleError(description: "zip member \(name.prefix(80)) is truncated") }
            out[name] = start..<(start + size)
            p = recordEnd
        }
        // Members may not overlap: several names over one stretch of bytes would be read (and copied) once each.
        if let overlap = firstOverlap(Array(out.values)) {
            throw PickleError(description: "zip members overlap (bytes \(overlap))")
        }
        return out
    }
}
