import Foundation

/// Errors reading or writing checkpoints.
public enum CheckpointError: Error, LocalizedError, Equatable {
    case unreadable(path: String, reason: String)
    case malformed(path: String, reason: String)
    case unsupportedDType(path: String, key: String, dtype: String)
    case missingKeys([String])
    case unexpectedKeys([String])
    case shapeMismatch(key: String, expected: [Int], actual: [Int])

    public var errorDescription: String? {
        switch self {
        case .unreadable(let p, let r): return "cannot read checkpoint '\(p)': \(r)"
        case .malformed(let p, let r): return "checkpoint '\(p)' is malformed: \(r)"
        case .unsupportedDType(let p, let k, let d): return "checkpoint '\(p)': tensor '\(k)' has unsupported dtype \(d)"
        case .missingKeys(let k): return "checkpoint lacks \(k.count) parameter(s): \(k.prefix(8).joined(separator: ", "))\(k.count > 8 ? ", ..." : "")"
        case .unexpectedKeys(let k): return "checkpoint has \(k.count) unexpected key(s): \(k.prefix(8).joined(separator: ", "))\(k.count > 8 ? ", ..." : "")"
        case .shapeMismatch(let k, let e, let a): return "parameter '\(k)': the model expects shape \(e) but the checkpoint has \(a)"
        }
    }
}

/// Reads and writes the safetensors format (https://github.com/huggingface/safetensors): an 8-byte
/// little-endian header length, a JSON header of names -> {dtype, shape, data_offsets}, then raw data.
public enum Safetensors {
    /// Loads every tensor of a safetensors file (CPU) and its `__metadata__` strings.
    public static func load(path: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw CheckpointError.unreadable(path: path, reason: error.localizedDescription)
        }
        return try decode(data, path: path)
    }

    /// Only the `__metadata__` strings of a safetensors file: the header is read, the tensors are not (the file is
    /// mapped, so their bytes are never touched).
    public static func metadata(path: String) throws -> [String: String] {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw CheckpointError.unreadable(path: path, reason: error.localizedDescription)
        }
        return try readHeader(data, path: path).json["__metadata__"] as? [String: String] ?? [:]
    }

    /// The JSON header of safetensors bytes and the offset where the data begins.
    static func readHeader(_ data: Data, path: String) throws -> (json: [String: Any], end: Int) {
        guard data.count >= 8 else { throw CheckpointError.malformed(path: path, reason: "file shorter than its 8-byte header length") }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | (UInt64($1.element) << (8 * UInt64($1.offset))) }
        guard headerLength <= UInt64(data.count - 8), headerLength < 100_000_000 else {
            throw CheckpointError.malformed(path: path, reason: "header length \(headerLength) exceeds the file")
        }
        let headerEnd = 8 + Int(headerLength)
        let headerData = data.subdata(in: 8..<headerEnd)
        guard let header = (try? JSONSerialization.jsonObject(with: headerData)) as? [String: Any] else {
            throw CheckpointError.malformed(path: path, reason: "header is not a JSON object")
        }
        return (header, headerEnd)
    }

    /// Decodes safetensors bytes (`path` is used only in error messages).
    public static func decode(_ data: Data, path: String = "<memory>") throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let (header, headerEnd) = try readHeader(data, path: path)
        var tensors: [String: Tensor] = [:]
        var metadata: [String: String] = [:]
        let body = data.count - headerEnd
        var entries: [(key: String, dtype: DType, shape: [Int], span: Range<Int>)] = []
        for (key, value) in header {
            if key == "__metadata__" {
                if let m = value as? [String: String] { metadata = m }
                continue
            }
            guard let info = value as? [String: Any], let dt = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offs = info["data_offsets"] as? [Int], offs.count == 2 else {
                throw CheckpointError.malformed(path: path, reason: "entry '\(key)' lacks dtype, shape or data_offsets")
            }
            guard let dtype = DType(safetensorsName: dt) else { throw CheckpointError.unsupportedDType(path: path, key: key, dtype: dt) }
            guard let size = Tensor.checkedSize(shape: shape, dtype: dtype),
                  offs[0] >= 0, offs[1] <= body, offs[0] <= offs[1], offs[1] - offs[0] == size.bytes else {
                throw CheckpointError.malformed(path: path, reason: "entry '\(key)' has offsets \(offs) inconsistent with shape \(shape) \(dt)")
            }
            entries.append((key, dtype, shape, offs[0]..<offs[1]))
        }
        // The format forbids overlapping entries (checked before copying: many names over one span would each be
        // copied, gigabytes from a small file).
        if let overlap = firstOverlap(entries.map(\.span)) {
            throw CheckpointError.malformed(path: path, reason: "entries overlap (bytes \(overlap) of the data)")
        }
        for e in entries {
            tensors[e.key] = data.withUnsafeBytes { raw in
                Tensor(bytes: UnsafeRawBufferPointer(rebasing: raw[(headerEnd + e.span.lowerBound)..<(headerEnd + e.span.upperBound)]), shape: e.shape, dtype: e.dtype)
            }
        }
        return (tensors, metadata)
    }

    /// Encodes tensors (any device; written from CPU copies) with optional string metadata.
    public static func encode(_ tensors: [String: Tensor], metadata: [String: String] = [:]) throws -> Data {
        let keys = tensors.keys.sorted()
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var blobs: [[UInt8]] = []
        var offset = 0
        for key in keys {
            let t = tensors[key]!
            let bytes = t.bytes()
            header[key] = ["dtype": t.dtype.safetensorsName, "shape": t.shape, "data_offsets": [offset, offset + bytes.count]] as [String: Any]
            offset += bytes.count
            blobs.append(bytes)
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + offset)
        var len = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &len) { out.append(contentsOf: $0) }
        out.append(json)
        for b in blobs { out.append(contentsOf: b) }
        return out
    }

    /// Writes tensors to `path` atomically.
    public static func save(_ tensors: [String: Tensor], metadata: [String: String] = [:], path: String) throws {
        let data = try encode(tensors, metadata: metadata)
        do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw CheckpointError.unreadable(path: path, reason: "cannot write: \(error.localizedDescription)")
        }
    }
}

/// The first stretch two of `spans` share (empty spans never overlap), or nil: model-file readers refuse files whose
/// entries overlap, since each would be copied out (many names over one span make gigabytes from a small file).
public func firstOverlap(_ spans: [Range<Int>]) -> Range<Int>? {
    let sorted = spans.filter { !$0.isEmpty }.sorted { $0.lowerBound < $1.lowerBound }
    for (a, b) in zip(sorted, sorted.dropFirst()) where b.lowerBound < a.upperBound {
        return b.lowerBound..<Swift.min(a.upperBound, b.upperBound)
    }
    return nil
}
