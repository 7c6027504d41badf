import Foundation
import Imaging
import Testing

@testable import Forensics

/// Random-mutation fuzzing of the metadata parsers (container walk, EXIF, XMP, ICC, CBOR, JUMBF, C2PA,
/// generator metadata): 100,000 mutated files from the fixtures and files written here, each parsed in full.
/// A crash or a trap fails the whole test binary; the test also checks that every report is well formed.
@Suite struct FuzzTests {
    static func seeds() throws -> [[UInt8]] {
        var s = try ["a1111-usercomment.jpg", "comfyui-hypernetwork.png", "dalle2-exif.jpg", "camera-nokia.jpg", "editor-paintnet.jpg"].map(fixture)
        // The C2PA fixtures are large: their first 24 KB (the manifest store starts there) keep mutation cheap.
        s += try ["c2pa-created.jpg", "c2pa-edited.jpg"].map { Array(try fixture($0).prefix(24_000)) }
        s.append(png(with: [("tEXt", Array("parameters\0Steps: 1, Sampler: x".utf8)), ("iTXt", Array("XML:com.adobe.xmp\0\u{1}\0\0\0".utf8) + zlibStored(Array("<a:b c:d=\"e\"/>".utf8)))]))
        s.append(jpeg(quality: 80))
        // WebP and BMFF shells with metadata chunks.
        let exif = Array("Exif\0\0".utf8) + [0x49, 0x49, 0x2A, 0x00, 8, 0, 0, 0, 1, 0, 0x0F, 0x01, 2, 0, 4, 0, 0, 0, 0x41, 0x42, 0x43, 0]
        var webp = Array("RIFF".utf8) + [0, 0, 0, 0] + Array("WEBP".utf8) + Array("EXIF".utf8) + [UInt8(exif.count), 0, 0, 0] + exif
        webp[4] = UInt8(webp.count - 8)
        s.append(webp)
        s.append([0, 0, 0, 16] + Array("ftypheic".utf8) + [0, 0, 0, 0] + [0, 0, 0, 40] + Array("uuid".utf8)
                 + [0xD8, 0xFE, 0xC3, 0xD6, 0x1B, 0x0E, 0x48, 0x3C, 0x92, 0x97, 0x58, 0x28, 0x87, 0x7E, 0xC4, 0x81] + [0, 0, 0, 0] + Array("manifest\0".utf8) + [0, 0, 0])
        return s
    }

    @Test func hundredThousandMutationsDoNotCrash() throws {
        let seeds = try Self.seeds()
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15  // deterministic mutations (the seed list is fixed)
        func next() -> UInt64 { state &+= 0x9E37_79B9_7F4A_7C15; var z = state; z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9; z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB; return z ^ (z >> 31) }
        var parsed = 0, withEvidence = 0
        let cases = 100_000
        for k in 0..<cases {
            var b = seeds[k % seeds.count]
            let ops = 1 + Int(next() % 4)
            for _ in 0..<ops {
                guard !b.isEmpty else { break }
                let i = Int(next() % UInt64(b.count))
                switch next() % 7 {
                case 0: b[i] ^= UInt8(1 << (next() % 8))                                  // bit flip
                case 1: b[i] = UInt8(truncatingIfNeeded: next())                           // random byte
                case 2: b.removeSubrange(i..<b.count)                                      // truncation
                case 3: for j in i..<min(b.count, i + 4) { b[j] = [0x00, 0xFF, 0x7F, 0x80][Int(next() % 4)] }  // length fields
                case 4: b.insert(contentsOf: [UInt8](repeating: UInt8(truncatingIfNeeded: next()), count: Int(next() % 16)), at: i)
                case 5: let n = min(b.count - i, Int(next() % 64)); b.removeSubrange(i..<(i + n))  // deletion
                default: let j = Int(next() % UInt64(b.count)); let n = min(16, b.count - max(i, j)); if n > 0 { b[i..<(i + n)] = b[j..<(j + n)] }  // splice
                }
            }
            let r = ProvenanceReport.analyze(b)
            parsed += 1
            if !r.evidence.isEmpty { withEvidence += 1 }
            #expect(r.evidence.allSatisfy { (0...1).contains($0.strength) })
        }
        #expect(parsed == cases && withEvidence == cases, "every report lists at least one evidence item")
    }

    /// The bounded inflater refuses a decompression bomb instead of allocating it.
    @Test func inflateLimitStopsBombs() {
        // 1 MB of zeros deflates to about 1 KB; a 64 KB limit must refuse it.
        var stored: [UInt8] = []
        let zeros = [UInt8](repeating: 0, count: 60_000)
        stored = zlibStored(zeros)
        #expect(Inflate.zlib(stored, maxOutput: 1 << 20)?.count == 60_000)
        #expect(Inflate.zlib(stored, maxOutput: 1000) == nil)
        #expect(Inflate.zlib(Array(stored.prefix(100))) == nil)
        #expect(Inflate.zlib([1, 2, 3]) == nil)
    }
}
