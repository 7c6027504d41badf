import Foundation
import Testing
import TestSupport
@testable import Imaging

/// A corpus of crafted bad files (built from the committed fixtures), each with the typed error it must give.
enum BadImageCorpus {
    struct Case: Sendable, CustomStringConvertible {
        let name: String
        let bytes: [UInt8]
        /// Accepted ImageError kinds.
        let kinds: Set<String>
        var description: String { name }
    }

    static func fixture(_ f: String) -> [UInt8] {
        [UInt8]((try? Data(contentsOf: URL(fileURLWithPath: TestSupport.fixture("ImagingTests", f)))) ?? Data())
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c >> 1) ^ (0xEDB8_8320 & (0 &- (c & 1))) }
        }
        return ~c
    }
    static func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 255), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }

    /// A PNG whose IHDR declares w x h (valid CRC), followed by a tiny IDAT: a decompression bomb header.
    static func pngDeclaring(width: Int, height: Int) -> [UInt8] {
        var ihdr = Array("IHDR".utf8) + be32(width) + be32(height) + [8, 2, 0, 0, 0]
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + be32(13) + ihdr
        out += be32(Int(crc32(ihdr)))
        ihdr = Array("IDAT".utf8) + [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]
        out += be32(8) + ihdr + be32(Int(crc32(ihdr)))
        let iend = Array("IEND".utf8)
        return out + be32(0) + iend + be32(Int(crc32(iend)))
    }

    /// A JPEG whose SOF0 declares w x h.
    static func jpegDeclaring(width: Int, height: Int) -> [UInt8] {
        var b = fixture("q90_444.jpg")
        var p = 2
        while p + 9 < b.count {
            if b[p] == 0xFF && (b[p + 1] == 0xC0 || b[p + 1] == 0xC2) {
                b[p + 5] = UInt8(height >> 8); b[p + 6] = UInt8(height & 255)
                b[p + 7] = UInt8(width >> 8); b[p + 8] = UInt8(width & 255)
                return b
            }
            p += 2 + (Int(b[p + 2]) << 8 | Int(b[p + 3]))
        }
        return b
    }

    static let cases: [Case] = {
        var c: [Case] = []
        func add(_ n: String, _ b: [UInt8], _ k: String...) { c.append(Case(name: n, bytes: b, kinds: Set(k))) }
        add("empty.jpg", [], "empty")
        // Truncations of every format, at several points.
        let files = ["q90_444.jpg", "progressive.jpg", "rgb.png", "palette.png", "lossy.webp", "lossless_alpha.webp",
                     "anim.gif", "rgb.tiff", "rgb.bmp", "small.heic", "small.avif", "cmyk.jpg"]
        for f in files {
            let b = fixture(f)
            for frac in [0.25, 0.6, 0.95] {
                add("trunc\(Int(frac * 100))-\(f)", Array(b.prefix(Int(Double(b.count) * frac))), "truncated", "corrupt")
            }
            add("header-only-\(f)", Array(b.prefix(12)), "truncated", "corrupt", "unsupported_format")
        }
        // Garbage after a valid magic number.
        var garbage = [UInt8](repeating: 0, count: 600)
        for i in garbage.indices { garbage[i] = UInt8((i * 131 + 7) % 251) }
        add("garbage.jpg", [0xFF, 0xD8, 0xFF] + garbage, "corrupt", "truncated")
        add("garbage.png", [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + garbage, "corrupt", "truncated")
        add("garbage.gif", Array("GIF89a".utf8) + garbage, "corrupt", "truncated", "dimensions_too_large")
        add("garbage.webp", Array("RIFF".utf8) + [0x58, 2, 0, 0] + Array("WEBP".utf8) + garbage, "corrupt", "truncated")
        add("garbage.tiff", [0x49, 0x49, 0x2A, 0x00] + garbage, "corrupt")
        add("garbage.bmp", Array("BM".utf8) + garbage, "corrupt", "truncated")
        add("garbage.heic", [0, 0, 0, 24] + Array("ftypheic".utf8) + [0, 0, 0, 0] + Array("mif1heic".utf8) + garbage, "corrupt", "truncated")
        add("garbage.avif", [0, 0, 0, 24] + Array("ftypavif".utf8) + [0, 0, 0, 0] + Array("mif1avif".utf8) + garbage, "corrupt", "truncated")
        // Bit flips in headers and data.
        for f in ["rgb.png", "q90_444.jpg", "lossy.webp", "small.avif"] {
            var b = fixture(f)
            for i in stride(from: 12, to: min(b.count, 40), by: 3) { b[i] ^= 0xFF }
            add("flipped-header-\(f)", b, "corrupt", "truncated", "unsupported_format", "dimensions_too_large")
        }
        var crc = fixture("rgb.png")
        crc[29] ^= 0x01   // IHDR CRC
        add("bad-crc.png", crc, "corrupt")
        // Not images at all (whatever the extension says).
        add("text.jpg", Array("just some text, not an image\n".utf8), "unsupported_format")
        add("doc.png", Array("%PDF-1.7\n%\u{e2}".utf8) + garbage, "unsupported_format")
        add("archive.jpg", [0x50, 0x4B, 0x03, 0x04] + garbage, "unsupported_format")
        add("page.webp", Array("<!DOCTYPE html><html></html>".utf8), "unsupported_format")
        add("zeros.png", [UInt8](repeating: 0, count: 300), "unsupported_format")
        add("jxl.jpg", [0xFF, 0x0A] + garbage, "unsupported_format")
        add("j2k.jpg", [0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20] + garbage, "unsupported_format")
        add("gzip.png", [0x1F, 0x8B, 0x08] + garbage, "unsupported_format")
        add("polyglot-pdf-then-jpeg.jpg", Array("%PDF-1.4\n".utf8) + fixture("q90_444.jpg"), "unsupported_format")
        // Giant dimensions (decompression bombs): refused from the header.
        add("bomb-100kx100k.png", pngDeclaring(width: 100_000, height: 100_000), "dimensions_too_large")
        add("bomb-20kx20k.png", pngDeclaring(width: 20_000, height: 20_000), "dimensions_too_large")
        add("bomb-65kx65k.jpg", jpegDeclaring(width: 65_000, height: 65_000), "dimensions_too_large")
        var gif = fixture("anim.gif")
        gif[6] = 0xFF; gif[7] = 0xFF; gif[8] = 0xFF; gif[9] = 0xFF
        add("bomb-65kx65k.gif", gif, "dimensions_too_large")
        var bmp = fixture("rgb.bmp")
        bmp[18] = 0; bmp[19] = 0; bmp[20] = 1; bmp[21] = 0   // width 65536
        bmp[22] = 0; bmp[23] = 0; bmp[24] = 1; bmp[25] = 0   // height 65536
        add("bomb-64kx64k.bmp", bmp, "dimensions_too_large", "corrupt")
        add("zero-size.png", pngDeclaring(width: 0, height: 10), "corrupt")
        return c
    }()
}

struct BadImageTests {
    @Test func corpusIsLarge() { #expect(BadImageCorpus.cases.count >= 50) }

    @Test("bad file gives its typed error, naming the file", arguments: BadImageCorpus.cases)
    func badFile(_ c: BadImageCorpus.Case) {
        do {
            _ = try ImageDecoder().decode(data: c.bytes, name: c.name)
            Issue.record("\(c.name) decoded without error")
        } catch let e as ImageError {
            #expect(c.kinds.contains(e.kind), "\(c.name): got \(e.kind) (\(e.localizedDescription)), expected \(c.kinds.sorted())")
            #expect(e.localizedDescription.hasPrefix(c.name), "message does not name the file: \(e.localizedDescription)")
        } catch {
            Issue.record("\(c.name): untyped error \(error)")
        }
    }

    @Test func specificErrors() throws {
        let jpg = BadImageCorpus.fixture("q90_444.jpg")
        #expect(throws: ImageError.truncated(file: "t.jpg", format: .jpeg)) { try ImageDecoder().decode(data: Array(jpg.prefix(jpg.count / 2)), name: "t.jpg") }
        #expect(throws: ImageError.dimensionsTooLarge(file: "b.png", width: 100_000, height: 100_000, limit: 100_000_000)) {
            try ImageDecoder().decode(data: BadImageCorpus.pngDeclaring(width: 100_000, height: 100_000), name: "b.png")
        }
        #expect(throws: ImageError.fileTooLarge(file: "x.jpg", bytes: jpg.count, limit: 100)) {
            try ImageDecoder(limits: ImageLimits(maxBytes: 100)).decode(data: jpg, name: "x.jpg")
        }
        #expect(throws: ImageError.dimensionsTooLarge(file: "p.jpg", width: 24, height: 16, limit: 100)) {
            try ImageDecoder(limits: ImageLimits(maxPixels: 100)).decode(data: jpg, name: "p.jpg")
        }
        #expect(throws: ImageError.unsupportedFormat(file: "a.txt", detected: "a text file")) {
            try ImageDecoder().decode(data: Array("hello".utf8), name: "a.txt")
        }
        let missing = "/nonexistent/\(UUID().uuidString).jpg"
        #expect(throws: ImageError.self) { try ImageDecoder().decode(path: missing) }
        do { _ = try ImageDecoder().decode(path: FileManager.default.temporaryDirectory.path) } catch let e as ImageError {
            #expect(e.kind == "unreadable")
        }
    }
}

/// Inputs the fuzzers (fuzz/, `make fuzz`) found crashing or misbehaving, kept after the fix: each decodes to a
/// typed error, never a crash. Under `make fuzz` the same files run through the AddressSanitizer build.
struct FuzzRegressionTests {
    static var files: [String] {
        let dir = TestSupport.fixture("ImagingTests", "fuzz")
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
    }

    @Test func regressionsAreKept() { #expect(!Self.files.isEmpty, "the fuzz regression folder is empty") }

    @Test("a typed error, not a crash", arguments: FuzzRegressionTests.files)
    func decodesToATypedError(_ name: String) {
        let bytes = BadImageCorpus.fixture("fuzz/\(name)")
        #expect(!bytes.isEmpty)
        #expect(throws: ImageError.self) { try ImageDecoder().decode(data: bytes, name: name) }
    }
}
