import Foundation
import Testing
import TestSupport
@testable import Detection
import Imaging
@testable import Models
import Torch

/// A model file whose `aidetect.preprocessing` cannot be used is refused with its path and the problem,
/// never loaded with the registry's default preprocessing in its place.
struct PreprocessingMetadataTests {
    static let bad: [(json: String, problem: String)] = [
        ("{not json", "aidetect.preprocessing"),
        (#"{"inputSize":32}"#, "missing field"),
        (#"{"cropFraction":1,"inputSize":32,"interpolation":"nearest","mean":[0,0,0],"policy":"resize","std":[1,1,1]}"#, "unknown interpolation"),
        (#"{"cropFraction":1,"inputSize":32,"interpolation":"area","mean":[0,0,0],"policy":"resize","std":[1,0,1]}"#, "std"),
        (#"{"cropFraction":1,"inputSize":32,"interpolation":"area","mean":[0],"policy":"resize","std":[1]}"#, "3 values"),
        (#"{"cropFraction":1,"inputSize":0,"interpolation":"area","mean":[0,0,0],"policy":"resize","std":[1,1,1]}"#, "inputSize"),
        (#"{"cropFraction":1,"inputSize":32,"interpolation":"area","mean":[0,0,0],"policy":"squash","std":[1,1,1]}"#, "policy"),
    ]

    @Test(arguments: PreprocessingMetadataTests.bad.indices)
    func malformedPreprocessingIsRefused(_ i: Int) throws {
        let (json, problem) = Self.bad[i]
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pre-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("m.safetensors").path
        try saveDetector(try ModelRegistry.create("lenet_baseline"), architecture: "lenet_baseline", path: path,
                         description: "test", extra: ["aidetect.preprocessing": json])
        do {
            _ = try Detector(path: path)
            Issue.record("\(json) loaded; expected it to be refused")
        } catch let error as DetectorError {
            guard case .notADetector(let p, let reason) = error else { Issue.record("unexpected \(error)"); return }
            #expect(p == path)
            #expect(reason.contains("aidetect.preprocessing"), "\(reason)")
            #expect(reason.contains(problem), "\(reason)")
        }
    }

    @Test func validPreprocessingIsUsed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pre-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("m.safetensors").path
        let pre = Preprocessing(inputSize: 32, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], policy: .resize,
                                interpolation: "bicubic", cropFraction: 1)
        try saveDetector(try ModelRegistry.create("lenet_baseline"), architecture: "lenet_baseline", path: path,
                         description: "test", preprocessing: pre)
        #expect(try Detector(path: path).preprocessing == pre)
    }
}

/// The flip-rate check never scores the original image when its JPEG re-encode fails.
struct FlipRateReencodeTests {
    @Test func failedReencodeIsReportedNotReplacedByTheOriginal() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("flip-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let folder = root.appendingPathComponent("real/a")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let image = Image(width: 40, height: 30, fill: (120, 60, 30))
        try Data(ImageEncoder.png(image)).write(to: folder.appendingPathComponent("0.png"))
        let samples = try Dataset.load(root.path).samples
        #expect(samples.count == 1)

        // A decoder whose byte limit the re-encoded JPEG exceeds: the re-encode fails.
        let strict = ImageDecoder(limits: ImageLimits(maxBytes: 16))
        #expect(throws: ImageError.self) { try ProbeStudy.reencodedJPEG95(image, decoder: strict) }
        let failed = ProbeStudy.perturbable(samples, view: .jpeg95, decoder: strict)
        #expect(failed.makeable.isEmpty)
        #expect(failed.failures.count == 1)
        #expect(failed.failures.first?.contains("(jpeg95): re-encoding failed") == true, "\(failed.failures)")

        let fine = ProbeStudy.perturbable(samples, view: .jpeg95)
        #expect(fine.makeable.map(\.id) == samples.map(\.id) && fine.failures.isEmpty)
        let reencoded = try ProbeStudy.reencodedJPEG95(image)
        #expect(reencoded.width == 40 && reencoded.height == 30)
        #expect(ProbeStudy.perturbable(samples, view: .resize90, decoder: strict).makeable.count == 1)
    }
}
