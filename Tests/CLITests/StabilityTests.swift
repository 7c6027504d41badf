import Foundation
import Testing
import TestSupport
@testable import Detection
import Imaging

/// The bundled model's verdict on the committed samples does not flip when an image is only re-encoded
/// (JPEG q95, 4:4:4) or downsized by 10% (the model card reports the flip rate on its validation split).
struct StabilityTests {
    @Test func verdictSurvivesReencodingAndResizing() throws {
        let detector = try Detector.loadDefault()
        let folder = TestSupport.repositoryRoot.appendingPathComponent("samples")
        var checked = 0
        for f in try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() where !f.hasPrefix("broken") && !f.hasSuffix(".md") {
            let image = try ImageDecoder().decode(path: folder.appendingPathComponent(f).path).image
            let p = detector.score(image).probability
            let jpeg = try ImageDecoder().decode(data: ImageEncoder.jpeg(image, quality: 95, subsampling: .s444)).image
            let small = image.resized(width: image.width * 9 / 10, height: image.height * 9 / 10, filter: .bicubic)
            for (what, variant) in [("JPEG q95", jpeg), ("90% size", small)] {
                let q = detector.score(variant).probability
                #expect((p >= 0.5) == (q >= 0.5), "\(f): verdict flips under \(what) (\(p) -> \(q))")
                #expect(abs(p - q) < 0.15, "\(f): P(AI) moves by \(abs(p - q)) under \(what)")
            }
            checked += 1
        }
        #expect(checked == 6)
    }
}
