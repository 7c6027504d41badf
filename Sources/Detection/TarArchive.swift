import Foundation

/// Reads members of an uncompressed (ustar/GNU) tar file without extracting it: an index of names to
/// byte ranges, then reads of single members. Gzipped tars are not read here (extract them first).
public final class TarArchive: @unchecked Sendable {
    public let path: String
    /// Regular-file members: name -> (offset of data, size).
    public private(set) var members: [String: (offset: UInt64, size: Int)] = [:]
    public private(set) var names: [String] = []
    private let handle: FileHandle
    private let lock = NSLock()

    public init(path: String) throws {
        self.path = path
        guard let h = FileHandle(forReadingAtPath: path) else {
            throw DatasetError.unreadable(path: path, reason: "cannot open the tar file")
        }
        handle = h
        var offset: UInt64 = 0
        var longName: String?
        while true {
            try h.seek(toOffset: offset)
            guard let header = try h.read(upToCount: 512), header.count == 512 else { break }
            let bytes = [UInt8](header)
            if bytes.allSatisfy({ $0 == 0 }) { break }
            func text(_ r: Range<Int>) -> String { String(decoding: bytes[r].prefix(while: { $0 != 0 }), as: UTF8.self) }
            let sizeField = text(124..<136).trimmingCharacters(in: .whitespaces)
            guard let size = Int(sizeField, radix: 8) else {
                throw DatasetError.unreadable(path: path, reason: "corrupt tar header at byte \(offset)")
            }
            let type = bytes[156]
            var name = text(0..<100)
            let prefix = text(345..<500)
            if !prefix.isEmpty && String(decoding: bytes[257..<262], as: UTF8.self) == "ustar" { name = prefix + "/" + name }
            if let l = longName { name = l; longName = nil }
            let dataStart = offset + 512
            if type == UInt8(ascii: "L") {
                try h.seek(toOffset: dataStart)
                let d = try h.read(upToCount: size) ?? Data()
                longName = String(decoding: d.prefix(while: { $0 != 0 }), as: UTF8.self)
            } else if type == UInt8(ascii: "0") || type == 0 {
                if name.hasPrefix("./") { name.removeFirst(2) }
                members[name] = (dataStart, size)
                names.append(name)
            }
            offset = dataStart + UInt64((size + 511) / 512 * 512)
        }
    }
    deinit { try? handle.close() }

    /// The bytes of one member.
    public func read(_ name: String) throws -> [UInt8] {
        guard let m = members[name] else { throw DatasetError.unreadable(path: "\(path):\(name)", reason: "no such member") }
        return try lock.withLock {
            try handle.seek(toOffset: m.offset)
            return [UInt8](try handle.read(upToCount: m.size) ?? Data())
        }
    }
}
