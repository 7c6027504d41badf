import Detection
import Foundation
import Imaging
import Testing
import TestSupport

@testable import Forensics

func fixture(_ name: String) throws -> [UInt8] {
    let url = TestSupport.repositoryRoot.appendingPathComponent("Tests/ForensicsTests/Fixtures/\(name)")
    return [UInt8](try Data(contentsOf: url))
}

/// CRC-32 (PNG chunks), for files written by the tests.
func crc32(_ bytes: [UInt8]) -> UInt32 {
    var c: UInt32 = 0xFFFF_FFFF
    for b in bytes {
        c ^= UInt32(b)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    }
    return ~c
}

/// A PNG with extra chunks inserted after IHDR.
func png(with chunks: [(String, [UInt8])]) -> [UInt8] {
    let base = ImageEncoder.png(Image(width: 8, height: 8, fill: (10, 200, 30)))
    let ihdrEnd = 8 + 12 + 13
    var out = Array(base[..<ihdrEnd])
    for (type, body) in chunks {
        let n = UInt32(body.count)
        out += [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
        let typed = Array(type.utf8) + body
        out += typed
        let c = crc32(typed)
        out += [UInt8(c >> 24), UInt8(c >> 16 & 0xFF), UInt8(c >> 8 & 0xFF), UInt8(c & 0xFF)]
    }
    return out + base[ihdrEnd...]
}

/// A JPEG with an APP segment inserted after SOI.
func jpeg(quality: Int = 90, app: (UInt8, [UInt8])? = nil) -> [UInt8] {
    let base = ImageEncoder.jpeg(Image(width: 16, height: 16, fill: (120, 60, 200)), quality: quality)
    guard let (marker, body) = app else { return base }
    let n = body.count + 2
    return [0xFF, 0xD8, 0xFF, marker, UInt8(n >> 8), UInt8(n & 0xFF)] + body + base[2...]
}

@Suite struct ProvenanceFixtureTests {
    @Test func stableDiffusionWebUIParametersInUserComment() throws {
        let r = ProvenanceReport.analyze(try fixture("a1111-usercomment.jpg"))
        #expect(r.generator == "Stable Diffusion web UI (PR_Deliberate 2.0 [deliberate_v2])")
        #expect(r.evidence.contains { $0.source == "EXIF" && $0.direction == .ai && $0.strength >= 0.8 })
        #expect(r.exif?.userComment?.contains("Steps:") == true)
    }

    @Test func comfyUIGraphNamesTheCheckpoints() throws {
        let r = ProvenanceReport.analyze(try fixture("comfyui-hypernetwork.png"))
        #expect(r.textKeys.contains("prompt") && r.textKeys.contains("workflow"))
        #expect(r.generator == "ComfyUI (dantionMarbleStatues_10.pt, v1-5-pruned-emaonly.ckpt)")
    }

    @Test func dalleMakerNoteAndUserComment() throws {
        let r = ProvenanceReport.analyze(try fixture("dalle2-exif.jpg"))
        #expect(r.exif?.makerNote?.hasPrefix("OpenAI--ImageGeneration--generation-") == true)
        #expect(r.exif?.userComment == "Made with OpenAI Labs")
        #expect(r.generator == "DALL-E (OpenAI)")
    }

    @Test func cameraAndEditorTracesAreWeakOrNeutral() throws {
        let camera = ProvenanceReport.analyze(try fixture("camera-nokia.jpg"))
        #expect(camera.exif?.make == "Nokia" && camera.exif?.model == "6680" && camera.exif?.dateTimeOriginal == "2005:10:24 10:23:00")
        let cameraEvidence = try #require(camera.evidence.first { $0.direction == .real })
        #expect(cameraEvidence.strength <= 0.25, "camera EXIF must stay weak evidence")
        #expect(camera.aiStrength == 0 && camera.jpegQuality == 85 && camera.jpegStandardTables == true)
        let editor = ProvenanceReport.analyze(try fixture("editor-paintnet.jpg"))
        #expect(editor.exif?.software == "Paint.NET v3.36" && editor.exif?.namesACamera == false)
        #expect(editor.evidence.allSatisfy { $0.direction == .neutral })
    }

    @Test func c2paManifestsAreReadAndNeverCalledValid() throws {
        let created = ProvenanceReport.analyze(try fixture("c2pa-created.jpg"))
        let c = try #require(created.c2pa)
        #expect(c.claimGenerator?.hasPrefix("make_test_images") == true)
        #expect(c.actions.map(\.action) == ["c2pa.created"])
        #expect(c.signaturePresent && c.signatureBytes > 1000 && c.validation == "not validated")
        let edited = try #require(ProvenanceReport.analyze(try fixture("c2pa-edited.jpg")).c2pa)
        #expect(edited.manifestCount == 1 && edited.actions.map(\.action) == ["c2pa.opened", "c2pa.color_adjustments"])
        #expect(edited.ingredients == ["A.jpg"])
        // The test tool declares "algorithmicMedia" (procedural, not a trained model): not AI evidence.
        #expect(c.created?.digitalSourceType == "algorithmicMedia" && created.aiStrength < 0.8)
    }
}

@Suite struct OwnEncoderTests {
    @Test func pngTextWrittenHereIsRead() {
        let params = "a cat on a sofa\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Model: sdxl_base"
        let r = ProvenanceReport.analyze(png(with: [("tEXt", Array("parameters".utf8) + [0] + Array(params.utf8))]))
        #expect(r.format == "png" && r.generator == "Stable Diffusion web UI (sdxl_base)")
        // Compressed iTXt (zlib through Imaging's inflater): an XMP packet with the IPTC source type.
        let xmp = #"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia" xmp:CreatorTool="Adobe Firefly"/></rdf:RDF></x:xmpmeta>"#
        let deflated: [UInt8] = zlibStored(Array(xmp.utf8))
        let r2 = ProvenanceReport.analyze(png(with: [("iTXt", Array("XML:com.adobe.xmp".utf8) + [0, 1, 0, 0, 0] + deflated)]))
        #expect(r2.xmp["Iptc4xmpExt:DigitalSourceType"]?.hasSuffix("trainedAlgorithmicMedia") == true)
        #expect(r2.aiStrength >= 0.8 && r2.generator == "Adobe Firefly")
    }

    @Test(arguments: [50, 75, 90, 95]) func jpegQualityOfOurEncoder(quality: Int) {
        let r = ProvenanceReport.analyze(jpeg(quality: quality))
        #expect(r.jpegQuality == quality && r.jpegStandardTables == true)
    }

    @Test func xmpInJPEGAndElementForm() {
        let xmp = "http://ns.adobe.com/xap/1.0/\0" + #"<x:xmpmeta><rdf:RDF><rdf:Description><Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia</Iptc4xmpExt:DigitalSourceType><dc:creator><rdf:Seq><rdf:li>Jo &amp; Co</rdf:li></rdf:Seq></dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>"#
        let r = ProvenanceReport.analyze(jpeg(app: (0xE1, Array(xmp.utf8))))
        #expect(r.xmp["dc:creator"] == "Jo & Co")
        #expect(r.evidence.contains { $0.finding.contains("compositeWithTrainedAlgorithmicMedia") && $0.direction == .ai })
    }

    @Test func noMetadataIsNotEvidenceOfReal() {
        let r = ProvenanceReport.analyze(ImageEncoder.png(Image(width: 4, height: 4, fill: (1, 2, 3))))
        #expect(r.evidence.count == 1 && r.evidence[0].direction == .neutral && r.evidence[0].finding == "no provenance metadata")
        let fused = FusedVerdict(modelProbability: 0.5, provenance: r)
        #expect(fused.verdict == "uncertain" && fused.basis == "model")
    }

    @Test func fusionRules() throws {
        let ai = ProvenanceReport.analyze(try fixture("a1111-usercomment.jpg"))
        #expect(FusedVerdict(modelProbability: 0.1, provenance: ai).verdict == "likely-AI")
        #expect(FusedVerdict(modelProbability: 0.1, provenance: ai).basis == "provenance")
        #expect(FusedVerdict(modelProbability: 0.9, provenance: ai).basis == "provenance and model")
        let camera = ProvenanceReport.analyze(try fixture("camera-nokia.jpg"))
        #expect(FusedVerdict(modelProbability: 0.9, provenance: camera).verdict == "likely-AI", "camera EXIF never overrides the model")
        #expect(FusedVerdict(modelProbability: 0.5, provenance: camera).verdict == "uncertain")
        #expect(FusedVerdict(modelProbability: nil, provenance: camera).verdict == "uncertain")
    }

    /// RFC 8949 appendix A examples.
    @Test func cborVectors() {
        #expect(CBOR.decode([0x00]) == .unsigned(0))
        #expect(CBOR.decode([0x19, 0x03, 0xE8]) == .unsigned(1000))
        #expect(CBOR.decode([0x38, 0x63]) == .negative(-100))
        #expect(CBOR.decode([0xF9, 0x3C, 0x00]) == .double(1.0))
        #expect(CBOR.decode([0xFB, 0x3F, 0xF1, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9A]) == .double(1.1))
        #expect(CBOR.decode([0x64, 0x49, 0x45, 0x54, 0x46]) == .text("IETF"))
        #expect(CBOR.decode([0x83, 0x01, 0x02, 0x03]) == .array([.unsigned(1), .unsigned(2), .unsigned(3)]))
        #expect(CBOR.decode([0xA2, 0x61, 0x61, 0x01, 0x61, 0x62, 0x82, 0x02, 0x03])?["b"] == .array([.unsigned(2), .unsigned(3)]))
        #expect(CBOR.decode([0x9F, 0x01, 0x82, 0x02, 0x03, 0xFF]) == .array([.unsigned(1), .array([.unsigned(2), .unsigned(3)])]))
        #expect(CBOR.decode([0xC1, 0x1A, 0x51, 0x4B, 0x67, 0xB0]) == .tagged(1, .unsigned(1_363_896_240)))
        #expect(CBOR.decode([0x7F, 0x65, 0x73, 0x74, 0x72, 0x65, 0x61, 0x64, 0x6D, 0x69, 0x6E, 0x67, 0xFF]) == .text("streaming"))
        // Malformed: truncated, absurd lengths, deep nesting.
        #expect(CBOR.decode([0x83, 0x01]) == nil)
        #expect(CBOR.decode([0x5B, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]) == nil)
        #expect(CBOR.decode([UInt8](repeating: 0x81, count: 200) + [0x00]) == nil)
    }
}

/// zlib stream with one stored (uncompressed) deflate block, for writing compressed chunks without a compressor.
func zlibStored(_ data: [UInt8]) -> [UInt8] {
    precondition(data.count < 65535)
    var a: UInt32 = 1, b: UInt32 = 0
    for x in data { a = (a + UInt32(x)) % 65521; b = (b + a) % 65521 }
    let n = UInt16(data.count)
    let adler = b << 16 | a
    return [0x78, 0x01, 0x01, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8(~n >> 8)] + data
        + [UInt8(adler >> 24), UInt8(adler >> 16 & 0xFF), UInt8(adler >> 8 & 0xFF), UInt8(adler & 0xFF)]
}

@Suite struct ProvenanceSharedDataTests {
    /// Every original in ../shared/data/provenance-originals.tar: the fakes that carry generator metadata are
    /// named, the reals never lean AI, and nothing fails.
    @Test(.enabled(if: TestSupport.hasSharedData, "needs ../shared/data (set AIDETECT_DATA): provenance-originals.tar"))
    func provenanceOriginals() throws {
        let data = try #require(TestSupport.sharedData)
        let tar = try TarArchive(path: data.appendingPathComponent("provenance-originals.tar").path)
        var named: [String: String] = [:]
        for name in tar.names where !name.hasSuffix("/") {
            let r = ProvenanceReport.analyze(try tar.read(name))
            if name.hasPrefix("real/") { #expect(r.aiStrength == 0, "\(name) leans AI: \(r.evidence)") }
            if let g = r.generator { named[name] = g }
        }
        #expect(named.values.contains { $0.contains("GPT-4o") }, "the C2PA-signed GPT-4o image")
        #expect(named.keys.filter { $0.contains("comfyui") }.count == 8)
        #expect(named.keys.filter { $0.contains("dalle2") }.count == 2)
        #expect(named.count == 12, "\(named)")
    }
}
