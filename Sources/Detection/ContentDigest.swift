import Foundation
import Torch

/// A stable 64-bit digest of bytes fed in pieces: FNV-1a style over 8-byte little-endian words (each step
/// `h = (h ^ word) &* FNV prime`, then `h ^= h >> 32`), the trailing bytes zero-padded to a word, then the length.
///
/// The same bytes give the same 16-hex-digit string on every run and platform however they are split into pieces.
/// Every step is a bijection of the state, so two inputs of one length that differ in a single word always differ.
/// Not cryptographic: it tells changed weights from unchanged ones (cache keys), nothing more. (swift-crypto is not
/// a dependency of this package, and a cache key does not need one.)
///
/// ```swift
/// let key = try ContentDigest.file(path: "weights.pth")   // "3f2a9c..."
/// ```
public struct ContentDigest: Sendable {
    private var state: UInt64 = 0xcbf2_9ce4_8422_2325
    private var length: UInt64 = 0
    /// Bytes not yet making a whole word (fewer than 8).
    private var pending: [UInt8] = []

    public init() {}

    private mutating func mix(_ word: UInt64) {
        state = (state ^ word) &* 0x0000_0100_0000_01b3
        state ^= state >> 32
    }

    /// Feeds `bytes`.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        length &+= UInt64(bytes.count)
        var i = 0
        if !pending.isEmpty {
            while pending.count < 8 && i < bytes.count {
                pending.append(bytes[i])
                i += 1
            }
            guard pending.count == 8 else { return }
            mix(pending.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
            pending.removeAll(keepingCapacity: true)
        }
        while i + 8 <= bytes.count {
            mix(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
            i += 8
        }
        while i < bytes.count {
            pending.append(bytes[i])
            i += 1
        }
    }

    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }
    public mutating func update(_ data: Data) { data.withUnsafeBytes { update($0) } }
    public mutating func update(_ string: String) { update(Array(string.utf8)) }

    /// The digest of everything fed so far, as 16 lowercase hex digits (the digest can still be fed afterwards).
    public var hex: String {
        var d = self
        if !d.pending.isEmpty {
            let word = d.pending + [UInt8](repeating: 0, count: 8 - d.pending.count)
            d.mix(word.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        }
        d.mix(length)
        let h = String(d.state, radix: 16)
        return String(repeating: "0", count: 16 - h.count) + h
    }

    /// The digest of a file's bytes, read in `chunkSize` pieces (memory stays flat for large weight files).
    /// - Throws: the file system's error when the file cannot be opened or read.
    public static func file(path: String, chunkSize: Int = 1 << 20) throws -> String {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        var d = ContentDigest()
        while let chunk = try handle.read(upToCount: chunkSize), !chunk.isEmpty {
            d.update(chunk)
        }
        return d.hex
    }

    /// The digest of a state dict: each tensor's key, dtype, shape and bytes, in key order.
    public static func stateDict(_ tensors: [String: Tensor]) -> String {
        var d = ContentDigest()
        for key in tensors.keys.sorted() {
            guard let t = tensors[key] else { continue }
            d.update("\(key)|\(t.dtype.safetensorsName)|\(t.shape)|")
            d.update(t.bytes())
        }
        return d.hex
    }
}
