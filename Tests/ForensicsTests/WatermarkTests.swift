import Foundation
import Imaging
import Testing
import TestSupport

@testable import Forensics

@Suite struct WatermarkTests {
    func photo() throws -> Image {
        try ImageDecoder().decode(path: TestSupport.repositoryRoot.appendingPathComponent("samples/real-earth-apollo17.jpg").path).image
    }

    @Test func payloadsAreTheDocumentedBits() {
        let sdxl = InvisibleWatermark.Payload.sdxl.bits.map(String.init).joined()
        #expect(sdxl == "101100111110110010010000011110111011000110011110")  // the SDXL pipelines' WATERMARK_MESSAGE
        let sd1 = InvisibleWatermark.Payload.stableDiffusionV1.bits
        #expect(sd1.count == 136 && sd1.prefix(8) == [0, 1, 0, 1, 0, 0, 1, 1])  // "S" = 0x53, most significant bit first
    }

    @Test func carrierIsTheFirstLargestCoefficientAfterTheFirst() {
        #expect(InvisibleWatermark.carrier([9, 1, -5, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) == 2)  // first of equal magnitudes
        #expect(InvisibleWatermark.carrier([300, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) == 1)  // the first one never counts
    }

    @Test func falseMatchProbabilityIsTheBinomialTail() {
        // sum_{i<=7} C(48, i) = 87,825,941 of 2^48 words.
        #expect(abs(InvisibleWatermark.falseMatchProbability(bits: 48, maxErrors: 7) - 87_825_941 / pow(2, 48)) < 1e-15)
        #expect(InvisibleWatermark.maxErrors(bits: 48) == 7 && InvisibleWatermark.maxErrors(bits: 136) == 20)
        #expect(InvisibleWatermark.falseMatchProbability(bits: 136, maxErrors: 20) < 1e-16)
    }

    /// Our encoder's output decodes to the payload it was given, in the layout it was given, and to nothing else;
    /// the untouched photo matches nothing.
    @Test func roundTripThroughOurEncoder() throws {
        let image = try photo()
        let clean = try #require(InvisibleWatermark.detect(image))
        #expect(clean.match == nil, "pristine photo: \(clean.checks[0])")
        #expect(clean.checks.allSatisfy { $0.bitErrorRate > 0.2 })
        for (payload, layout) in [(InvisibleWatermark.Payload.sdxl, InvisibleWatermark.Layout.swapped),
                                  (InvisibleWatermark.Payload.stableDiffusionV1, InvisibleWatermark.Layout.rgb)] {
            let marked = InvisibleWatermark.embed(payload, in: image, layout: layout)
            // Invisible: small change per pixel.
            let diffs = zip(marked.pixels, image.pixels).map { abs(Int($0) - Int($1)) }
            #expect(Double(diffs.reduce(0, +)) / Double(diffs.count) < 3, "mean change \(Double(diffs.reduce(0, +)) / Double(diffs.count))")
            // Through a lossless file, as generators save them.
            let reread = try ImageDecoder().decode(data: ImageEncoder.png(marked), name: "marked.png").image
            let f = try #require(InvisibleWatermark.detect(reread))
            let m = try #require(f.match, "\(payload.name): \(f.checks)")
            #expect(m.payload == payload.name && m.layout == layout && m.bitErrors == 0)
            #expect(f.checks.filter(\.matched).count == 1)
            var report = ProvenanceReport(format: "PNG")
            report.checkWatermark(reread)
            #expect(report.evidence.first?.source == "invisible watermark" && report.aiStrength >= 0.8)
            #expect(FusedVerdict(modelProbability: 0.1, provenance: report).verdict == "likely-AI")
        }
    }

    @Test func tooSmallImagesAreNotRead() {
        let tiny = Image(width: 16, height: 16, pixels: [UInt8](repeating: 100, count: 16 * 16 * 3))
        #expect(InvisibleWatermark.detect(tiny) == nil)
        var report = ProvenanceReport(format: "PNG")
        report.checkWatermark(tiny)
        #expect(report.evidence.isEmpty && report.watermark == nil)
    }

    /// Files marked by the reference encoder (scripts/make_watermark_fixtures.py): we read exactly the bits the
    /// reference decoder reads, in both channel orders and both payload lengths. (The reference round trip itself is
    /// lossy on this photo crop: 15 of SDXL's 48 bits and 33 of SD 1.x's 136 read back wrong, above our match
    /// threshold, so neither counts as a match; our own encoder keeps the carriers and reads back exactly.)
    @Test func readsTheSameBitsAsTheReferenceDecoder() throws {
        let expected = try #require(try JSONSerialization.jsonObject(with: Data(fixture("wm-expected.json"))) as? [String: [String: String]])
        #expect(expected.count == 3)
        for (file, readings) in expected {
            let image = try ImageDecoder().decode(data: try fixture(file), name: file).image
            let f = try #require(InvisibleWatermark.detect(image))
            for (key, bits) in readings {
                let parts = key.split(separator: "-")
                let payload = parts[1] == "48" ? InvisibleWatermark.Payload.sdxl.name : InvisibleWatermark.Payload.stableDiffusionV1.name
                let check = try #require(f.checks.first { $0.payload == payload && $0.layout.rawValue == parts[0] })
                #expect(check.decoded == bits, "\(file) \(key)")
            }
            #expect(f.match == nil, "\(file): \(f.checks[0])")
        }
        let sdxl = try #require(InvisibleWatermark.detect(try ImageDecoder().decode(data: try fixture("wm-sdxl.png"), name: "wm-sdxl.png").image))
        #expect(sdxl.checks.first { $0.payload == InvisibleWatermark.Payload.sdxl.name && $0.layout == .swapped }?.bitErrors == 15)
    }
}
