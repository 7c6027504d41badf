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

    /// The two metadata-only fixtures keep their manifests but lost their pixels: the signature still checks out,
    /// the binding to the bytes does not, so both are invalid (a tampered image with an intact manifest).
    @Test func c2paManifestsAreReadAndStrippedCopiesAreInvalid() throws {
        let created = ProvenanceReport.analyze(try fixture("c2pa-created.jpg"))
        let c = try #require(created.c2pa)
        #expect(c.claimGenerator?.hasPrefix("make_test_images") == true)
        #expect(c.actions.map(\.action) == ["c2pa.created"])
        #expect(c.signaturePresent && c.signatureBytes > 1000 && c.validation == "invalid")
        let v = try #require(c.validations.last)
        #expect(v.failures == ["assertion.dataHash.mismatch"] && v.codes.contains("claimSignature.validated") && v.algorithm == "PS256")
        #expect(created.problems.contains { $0.contains("invalid") })
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

/// C2PA validation (issue 15): COSE signature, certificate chain, assertion hashes and the hard binding, against
/// a whole signed file (c2pa-rs's C.jpg) and copies of it changed in one place each.
@Suite struct C2PAValidationTests {
    static func store(_ bytes: [UInt8]) throws -> [UInt8] { try #require(MetadataBlocks.read(bytes).jumbf.first) }

    @Test func signedFileValidatesAndEachTamperingIsCaught() throws {
        let file = try fixture("c2pa-signed-whole.jpg")
        let ok = C2PAValidator.validate(store: try Self.store(file), asset: file)
        let v = try #require(ok.last)
        #expect(ok.count == 1 && v.active && v.verdict == .untrustedSigner, "\(v)")
        #expect(v.codes.contains("claimSignature.validated") && v.codes.contains("assertion.dataHash.match") && v.failures.isEmpty)
        #expect(v.signer?.contains("C2PA Test Signing Cert") == true, "\(v.signer ?? "")")

        // One byte of the picture changed (just before EOI): the binding fails, the signature still holds.
        var pixels = file
        pixels[pixels.count - 10] ^= 0x01
        let p = try #require(C2PAValidator.validate(store: try Self.store(pixels), asset: pixels).last)
        #expect(p.verdict == .invalid && p.failures == ["assertion.dataHash.mismatch"])

        // One character of the claim changed (its generator name): the claim signature no longer matches.
        var claim = file
        let needle = Array("make_test_images".utf8)
        let at = try #require((0..<(claim.count - needle.count)).first { Array(claim[$0..<($0 + needle.count)]) == needle })
        claim[at] = UInt8(ascii: "M")
        let c = try #require(C2PAValidator.validate(store: try Self.store(claim), asset: claim).last)
        #expect(c.verdict == .invalid && c.failures.contains("claimSignature.mismatch"))

        // One byte inside an assertion (the actions' CBOR): its hashed URI no longer matches.
        var assertion = file
        let action = Array("c2pa.created".utf8)
        let a = try #require((0..<(assertion.count - action.count)).first { Array(assertion[$0..<($0 + action.count)]) == action })
        assertion[a + 5] = UInt8(ascii: "k")
        let av = try #require(C2PAValidator.validate(store: try Self.store(assertion), asset: assertion).last)
        #expect(av.failures.contains("assertion.hashedURI.mismatch"))

        // A byte of the actions' software agent changed: that assertion no longer vouches for anything, so its
        // "created" statement is no longer evidence (the report falls back to the manifest's plain description).
        var agent = file
        let name = Array("Make Test Images".utf8)
        let n = try #require((0..<(agent.count - name.count)).first { Array(agent[$0..<($0 + name.count)]) == name })
        agent[n] = UInt8(ascii: "m")
        let agentReport = ProvenanceReport.analyze(agent)
        #expect(agentReport.c2pa?.validations.last?.verifiedAssertions.contains("c2pa.actions") == false)
        #expect(!agentReport.evidence.contains { $0.finding.hasPrefix("c2pa.created") }, "\(agentReport.evidence)")
        #expect(ProvenanceReport.analyze(file).evidence.contains { $0.finding.hasPrefix("c2pa.created") })

        // Validated far in the future, the certificates have expired.
        let later = try #require(C2PAValidator.validate(store: try Self.store(file), asset: file, now: Date(timeIntervalSince1970: 4_102_444_800)).last)
        #expect(later.failures.contains("signingCredential.expired"))
    }

    /// With the signer's own root as a trust anchor the manifest is valid; an unrelated anchor changes nothing.
    @Test func trustAnchorsMakeTheSignerTrusted() throws {
        let file = try fixture("c2pa-signed-whole.jpg")
        let store = try Self.store(file)
        let manifest = try #require(JUMBFBox.parse(store).first?.children.last)
        let signature = try #require(manifest.child(label: "c2pa.signature")?.content("cbor"))
        let cose = try #require(COSESign1(signature))
        let chain = try cose.certificates.map { try SignerCertificate(der: $0) }
        #expect(chain.count >= 2 && zip(chain, chain.dropFirst()).allSatisfy { $1.signed($0) == true }, "each certificate signed by the next")
        let top = try #require(chain.last)
        let trusted = try #require(C2PAValidator.validate(store: store, asset: file, now: Date(), anchors: [top]).last)
        #expect(trusted.verdict == .valid && trusted.codes.contains("signingCredential.trusted"))
        let other = try #require(C2PAValidator.validate(store: store, asset: file, now: Date(), anchors: [chain[0]]).last)
        #expect(other.verdict == .untrustedSigner)
        // Only a valid manifest would weigh as strong evidence; this one's evidence says why it does not.
        let report = ProvenanceReport.analyze(file)
        #expect(report.c2pa?.validation == "untrusted-signer")
        #expect(report.evidence.contains { $0.source == "C2PA" && $0.explanation.contains("no trust list") })
    }

    /// c2pa-rs's own fixtures, with the outcomes its tests expect (file names say which are tampered).
    @Test(.enabled(if: TestSupport.hasSharedData, "needs ../shared/data (set AIDETECT_DATA): c2pa-fixtures.tar"))
    func c2paRsFixtures() throws {
        let data = try #require(TestSupport.sharedData)
        let tar = try TarArchive(path: data.appendingPathComponent("c2pa-fixtures.tar").path)
        // file: (active manifest's verdict, a failure code that must appear, or nil; ingredient verdicts that must appear)
        let expected: [String: (C2PAValidation.Verdict, String?, [C2PAValidation.Verdict])] = [
            "C.jpg": (.untrustedSigner, nil, []), "CA.jpg": (.untrustedSigner, nil, []), "CACA.jpg": (.untrustedSigner, nil, []),
            "CA_ct.jpg": (.untrustedSigner, nil, []), "C_with_CAWG_data.jpg": (.untrustedSigner, nil, []),
            "boxhash.jpg": (.untrustedSigner, nil, []), "legacy_ingredient_hash.jpg": (.untrustedSigner, nil, []),
            "update_manifest.jpg": (.untrustedSigner, nil, []),
            "E-sig-CA.jpg": (.invalid, "claimSignature.mismatch", []),
            "XCA.jpg": (.invalid, "assertion.dataHash.mismatch", []),
            "adobe-20220124-E-clm-CAICAI.jpg": (.invalid, "claim.missing", []),
            // The composed asset is valid; one of its ingredients' manifests is not.
            "CIE-sig-CA.jpg": (.untrustedSigner, nil, [.invalid]),
            "CACAE-uri-CA.jpg": (.untrustedSigner, nil, [.invalid]),
        ]
        for (name, (verdict, failure, ingredients)) in expected {
            let bytes = try tar.read("sdk/tests/fixtures/\(name)")
            let all = C2PAValidator.validate(store: try Self.store(bytes), asset: bytes)
            let active = try #require(all.last, "\(name): no manifest")
            #expect(active.verdict == verdict, "\(name): \(active.verdict) \(active.codes)")
            if let failure { #expect(active.failures.contains(failure), "\(name): \(active.failures)") }
            for i in ingredients { #expect(all.dropLast().contains { $0.verdict == i }, "\(name): ingredients \(all.dropLast().map(\.verdict))") }
        }
        for name in ["no_manifest.jpg", "earth_apollo17.jpg"] {
            #expect(ProvenanceReport.analyze(try tar.read("sdk/tests/fixtures/\(name)")).c2pa == nil)
        }
    }

    /// Malformed signature parts are errors, never traps: a certificate with empty fields, a COSE header whose
    /// algorithm does not fit in 64 bits.
    @Test func malformedSignaturePartsDoNotTrap() {
        #expect(throws: (any Error).self) { try SignerCertificate(der: [0x30, 0x07, 0x30, 0x00, 0x30, 0x00, 0x03, 0x01, 0x00]) }
        #expect(throws: (any Error).self) { try SignerCertificate(der: [0x30, 0x06, 0x30, 0x00, 0x30, 0x00, 0x30, 0x00]) }
        let protected: [UInt8] = [0xA1, 0x01, 0x1B, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        let cose = COSESign1([0x84, 0x4B] + protected + [0xA0, 0xF6, 0x40])
        #expect(cose != nil && cose?.algorithm == nil && cose?.certificates.isEmpty == true)
    }
}

