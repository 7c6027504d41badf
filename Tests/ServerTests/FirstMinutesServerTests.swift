import Detection
import Explain
import Foundation
import Hummingbird
import HummingbirdTesting
import Imaging
import Testing
import TestSupport

@testable import Server

/// Issue 18 on the API: verdict first when an explanation does not apply, disagreement and card figures, the caveat,
/// milliseconds, a 405 for GET on a POST route, out-of-scope images.
@Suite struct FirstMinutesServerTests {
    func app(_ analyzer: Analyzer) -> some ApplicationProtocol {
        var c = ServerConfiguration()
        c.port = 0
        return buildApplication(analyzer: analyzer, configuration: c)
    }

    @Test func unsupportedExplainMethodKeepsTheVerdict() async throws {
        try await app(try #require(sharedAnalyzer)).test(.router) { client in
            try await client.execute(uri: "/api/v1/analyze?explain=rollout,gradcam", method: .post, body: try sample("real-earth-apollo17.jpg")) { r in
                #expect(r.status == .ok)
                let j = jsonObject(r.body)
                #expect(["likely-AI", "likely-real", "uncertain"].contains((j["fused"] as? [String: Any])?["verdict"] as? String ?? ""))
                #expect((j["warnings"] as? [String])?.contains { $0.contains("rollout") } == true, "\(j["warnings"] ?? "")")
                #expect((j["heatmaps"] as? [[String: Any]])?.compactMap { $0["method"] as? String } == ["gradcam"])
                #expect(j["milliseconds"] is Double && j["seconds"] == nil)
                #expect(j["caveat"] as? String == Reliability.caveat)
            }
            try await client.execute(uri: "/api/v1/analyze", method: .get) { r in
                #expect(r.status == .methodNotAllowed && r.headers[.allow] == "POST")
                #expect(((jsonObject(r.body)["error"] as? [String: Any])?["message"] as? String)?.contains("POST") == true)
            }
            try await client.execute(uri: "/api/v1/models", method: .get) { r in
                let j = jsonObject(r.body)
                #expect(j["caveat"] as? String == Reliability.caveat)
                let m = try #require((j["models"] as? [[String: Any]])?.first)
                #expect((m["explain"] as? [String])?.contains("gradcam") == true && (m["explain"] as? [String])?.contains("rollout") == false)
                #expect(m["label"] is String)
            }
        }
    }

    @Test func disagreementAndOutOfScopeAreReported() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("server-disagree-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let base = try Detector.loadDefault()
        let a = dir.appendingPathComponent("a.safetensors").path, b = dir.appendingPathComponent("b.safetensors").path
        var meta = base.metadata
        meta["aidetect.card"] = #"{"heldOutAUC":0.8,"realFalseAlarmRate":0.25,"testAUC":0.9}"#
        try saveDetector(base.model, architecture: base.entry.name, path: a, description: "a", calibrator: .platt(a: 0, b: 10), preprocessing: base.preprocessing, extra: meta)
        try saveDetector(base.model, architecture: base.entry.name, path: b, description: "b", calibrator: .platt(a: 0, b: -10), preprocessing: base.preprocessing, extra: meta)
        let analyzer = try Analyzer.load(models: [a, b])
        let photo = Array(try sample("real-earth-apollo17.jpg").readableBytesView)
        let r = try analyzer.analyze(photo)
        #expect(r.disagreement && r.ensemble.verdict == "uncertain" && r.fused.verdict == "uncertain")
        #expect(r.reason.contains("models disagree") && r.fused.reason == r.reason)
        #expect(r.models.allSatisfy { $0.figures?.heldOutAUC == 0.8 && $0.figures?.realFalseAlarmRate == 0.25 })
        let blank = ImageEncoder.png(Image(width: 512, height: 512, fill: (128, 128, 128)))
        let one = try Analyzer(detectors: [base]).analyze(blank)
        #expect(one.outOfScope == "too-little-content" && one.ensemble.verdict == "uncertain" && !one.disagreement)
    }
}

/// The CLIP probe (`make clip-model`) alone, heat maps ticked: a real browser upload shows the verdict and the maps
/// that apply to it (issue 18's acceptance; before, Grad-CAM's failure replaced the verdict with an error).
@Suite struct CLIPBrowserTests {
    static let clipModel = TestSupport.repositoryRoot.appendingPathComponent("models/clip-probe.safetensors").path
    static let available = FileManager.default.fileExists(atPath: clipModel) || TestSupport.hasCached("pretrained/clip_encoder.int8.onnx")

    @Test(.enabled(if: browserReady && available,
                   "needs the browser tools (scripts/install-deps.sh test) and the CLIP probe (make clip-model, or scripts/fetch_pretrained.sh)"))
    func clipOnlyUploadShowsVerdictAndMaps() async throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("aidetect-browser-clip-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: out) }
        var model = Self.clipModel
        if !FileManager.default.fileExists(atPath: model) {
            // What `make clip-model` does: the encoder from PyPI's ONNX file and the committed probe head.
            model = out.appendingPathComponent("clip-probe.safetensors").path
            let p = Process()
            p.executableURL = TestSupport.aidetectExecutable
            p.arguments = ["import", try #require(TestSupport.cached("pretrained/clip_encoder.int8.onnx")).path, "--architecture", TestSupport.defaultCLIPHead.architecture,
                           "--head", TestSupport.repositoryRoot.appendingPathComponent(TestSupport.defaultCLIPHead.head).path, "--output", model]
            try p.run()
            p.waitUntilExit()
            #expect(p.terminationStatus == 0)
        }
        var c = ServerConfiguration()
        c.port = 0
        c.requestTimeout = 240
        let app = buildApplication(analyzer: try Analyzer.load(models: [model]), configuration: c)
        let root = TestSupport.repositoryRoot
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let (status, report) = try await runBrowserTest(port: port, file: root.appendingPathComponent("samples/real-earth-apollo17.jpg"),
                                                            output: out, extra: ["--expect-heatmaps", "--timeout", "300"])
            #expect(status == 0, "browser_test.py: \(report)")
            #expect(["likely-AI", "likely-real", "uncertain"].contains(report["verdict"] as? String ?? ""), "\(report)")
            #expect((report["heatmapButtons"] as? [String])?.contains { $0.contains("gradcam") } == true, "\(report)")
        }
    }
}
