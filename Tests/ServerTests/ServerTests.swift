import Detection
import Foundation
import Hummingbird
import HummingbirdTesting
import Imaging
import Testing
import TestSupport

@testable import Server

/// One analyzer for the suite (the bundled model, loaded once; not "default", which is the CLIP probe where installed).
let sharedAnalyzer: Analyzer? = try? Analyzer.load(models: ["bundled"])

func sample(_ name: String) throws -> ByteBuffer {
    ByteBuffer(bytes: try Data(contentsOf: TestSupport.repositoryRoot.appendingPathComponent("samples/\(name)")))
}

func jsonObject(_ b: ByteBuffer) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(b.readableBytesView))) as? [String: Any] ?? [:]
}

func multipart(_ files: [(String, [UInt8])], boundary: String = "XyZ123") -> ByteBuffer {
    var body: [UInt8] = []
    for (name, bytes) in files {
        body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(name)\"\r\nContent-Type: application/octet-stream\r\n\r\n".utf8)
        body += bytes + Array("\r\n".utf8)
    }
    body += Array("--\(boundary)--\r\n".utf8)
    return ByteBuffer(bytes: body)
}

@Suite struct ServerRouterTests {
    func app(_ configure: (inout ServerConfiguration) -> Void = { _ in }) throws -> some ApplicationProtocol {
        var c = ServerConfiguration()
        c.port = 0
        configure(&c)
        return buildApplication(analyzer: try #require(sharedAnalyzer), configuration: c)
    }

    @Test func pageHealthModelsAndOpenAPIMatchTheRoutes() async throws {
        try await app().test(.router) { client in
            try await client.execute(uri: "/", method: .get) { r in
                #expect(r.status == .ok)
                let html = String(buffer: r.body)
                #expect(html.contains("<html lang=\"en\">") && html.contains("Choose images") && html.contains("/api/v1/analyze"))
                #expect(!html.contains("https://"), "the page must not load anything from elsewhere")
            }
            try await client.execute(uri: "/healthz", method: .get) { r in #expect(jsonObject(r.body)["status"] as? String == "ok") }
            try await client.execute(uri: "/api/v1/models", method: .get) { r in
                let models = jsonObject(r.body)["models"] as? [[String: Any]] ?? []
                #expect(models.first?["architecture"] as? String == "efficientnet_lite0")
            }
            let doc = try await client.execute(uri: "/openapi.json", method: .get) { jsonObject($0.body) }
            let paths = doc["paths"] as? [String: [String: Any]] ?? [:]
            var documented: Set<String> = []
            for (p, ops) in paths { for m in ops.keys { documented.insert("\(m.uppercased()) \(p)") } }
            #expect(documented == Set((Routes.all + Routes.review).map { "\($0.method) \($0.path)" }))
            // Every documented GET answers.
            for route in Routes.all where route.method == "GET" {
                try await client.execute(uri: route.path, method: .get) { r in #expect(r.status == .ok, "\(route.path)") }
            }
        }
    }

    @Test func analyzeRawAndMultipart() async throws {
        try await app().test(.router) { client in
            let body = try sample("fake-sdxl-turbo.png")
            try await client.execute(uri: "/api/v1/analyze?name=turbo.png&explain=gradcam", method: .post, body: body) { r in
                #expect(r.status == .ok)
                let j = jsonObject(r.body)
                let ensemble = j["ensemble"] as? [String: Any] ?? [:]
                let p = ensemble["probability"] as? Double ?? -1
                #expect((0...1).contains(p))
                #expect((j["fused"] as? [String: Any])?["verdict"] as? String == "likely-AI", "ComfyUI metadata decides")
                let maps = j["heatmaps"] as? [[String: Any]] ?? []
                #expect(maps.count == 1 && (maps.first?["overlayPNG"] as? String)?.isEmpty == false)
                #expect((j["file"] as? [String: Any])?["name"] as? String == "turbo.png")
            }
            let bytes = Array(try sample("real-earth-apollo17.jpg").readableBytesView)
            try await client.execute(uri: "/api/v1/analyze", method: .post, headers: [.contentType: "multipart/form-data; boundary=XyZ123"],
                                     body: multipart([("earth.jpg", bytes)])) { r in
                #expect(r.status == .ok)
                #expect((jsonObject(r.body)["file"] as? [String: Any])?["name"] as? String == "earth.jpg")
            }
        }
    }

    @Test func badInputGetsTypedJSONErrors() async throws {
        try await app { $0.maxBodyBytes = 600_000 }.test(.router) { client in
            func expectError(_ uri: String, _ body: ByteBuffer, _ status: HTTPResponse.Status, _ kind: String) async throws {
                try await client.execute(uri: uri, method: .post, body: body) { r in
                    #expect(r.status == status, "\(kind)")
                    let e = jsonObject(r.body)["error"] as? [String: Any]
                    #expect(e?["kind"] as? String == kind && (e?["message"] as? String)?.isEmpty == false)
                }
            }
            try await expectError("/api/v1/analyze", try sample("broken-truncated.jpg"), .unprocessableContent, "truncated")
            try await expectError("/api/v1/analyze", ByteBuffer(string: "hello, not an image"), .unsupportedMediaType, "unsupported_format")
            try await expectError("/api/v1/analyze", ByteBuffer(), .badRequest, "empty")
            try await expectError("/api/v1/analyze?explain=magic", try sample("fake-sdxl-turbo.png"), .badRequest, "bad_option")
            try await expectError("/api/v1/analyze?models=nope", try sample("fake-sdxl-turbo.png"), .badRequest, "bad_option")
            try await expectError("/api/v1/analyze", ByteBuffer(repeating: 0xFF, count: 700_000), .contentTooLarge, "body_too_large")
            try await expectError("/api/v1/batch", try sample("fake-sdxl-turbo.png"), .unsupportedMediaType, "content_type")
        }
    }

    /// A batch streams one line per file; a bad file gets its error line and the others their reports.
    @Test func batchKeepsGoingPastBadFiles() async throws {
        let good = Array(try sample("real-earth-apollo17.jpg").readableBytesView), bad = Array(try sample("broken-truncated.jpg").readableBytesView)
        try await app().test(.router) { client in
            try await client.execute(uri: "/api/v1/batch", method: .post, headers: [.contentType: "multipart/form-data; boundary=XyZ123"],
                                     body: multipart([("a.jpg", good), ("b.jpg", bad), ("c.jpg", good)])) { r in
                #expect(r.status == .ok)
                let lines = String(buffer: r.body).split(separator: "\n").map { jsonObject(ByteBuffer(string: String($0))) }
                #expect(lines.count == 3)
                #expect(lines.map { $0["file"] as? String } == ["a.jpg", "b.jpg", "c.jpg"])
                #expect(lines[0]["report"] != nil && lines[2]["report"] != nil)
                #expect((lines[1]["error"] as? [String: Any])?["kind"] as? String == "truncated")
            }
            // Metrics counted them.
            try await client.execute(uri: "/metrics", method: .get) { r in
                #expect(String(buffer: r.body).contains("aidetect_requests_total{route=\"/api/v1/batch\",status=\"200\"} 1"))
            }
        }
    }

    @Test func gateBoundsConcurrencyAndQueue() async throws {
        let gate = InferenceGate(limit: 1, maxQueue: 1)
        try await gate.enter()
        let waiter = Task { try await gate.enter() }
        while await gate.queueDepth == 0 { await Task.yield() }
        await #expect(throws: InferenceGate.Failure.self) { try await gate.enter() }
        await gate.leave()
        try await waiter.value
        let (inFlight, depth) = (await gate.inFlight, await gate.queueDepth)
        #expect(inFlight == 1 && depth == 0)
        await gate.leave()
        let after = await gate.inFlight
        #expect(after == 0)
    }
}

@Suite struct ServerEnsembleTests {
    /// Two model files that carry one name are both scored, listed under names of their own, and either can be
    /// picked; an ensemble with any placeholder member is flagged as one; a stacker fitted for the pair combines them.
    @Test func modelsSharingANameAreBothScoredAndPickable() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("server-ens-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let base = try Detector.loadDefault()
        let a = dir.appendingPathComponent("a.safetensors").path, b = dir.appendingPathComponent("b.safetensors").path
        // The bundled model's weights and name twice; b is marked a placeholder and recalibrated so that it scores
        // differently (dropping either model would show).
        try saveDetector(base.model, architecture: base.entry.name, path: a, description: "a", preprocessing: base.preprocessing,
                         extra: base.metadata)
        try saveDetector(base.model, architecture: base.entry.name, path: b, placeholder: true, description: "b",
                         calibrator: .platt(a: 1, b: 3), preprocessing: base.preprocessing, extra: base.metadata)
        let analyzer = try Analyzer.load(models: [a, b])
        #expect(analyzer.detectors.map(\.name) == [base.name, base.name])
        #expect(analyzer.names == ["\(base.name) (a.safetensors)", "\(base.name) (b.safetensors)"])

        let bytes = Array(try sample("real-earth-apollo17.jpg").readableBytesView)
        let image = try ImageDecoder().decode(data: bytes, name: "earth").image
        let expected = analyzer.detectors.map { $0.score(image).probability }
        #expect(abs(expected[0] - expected[1]) > 1e-6)

        let both = try analyzer.analyze(bytes)
        #expect(both.models.map(\.name) == analyzer.names)
        for (m, e) in zip(both.models, expected) { #expect(abs(m.probability - e) < 1e-9) }
        // Same card figures: the first model's score stands (no stacker here), never the mean.
        #expect(abs(both.ensemble.probability - expected[0]) < 1e-9 && both.ensemble.architecture == "primary")
        #expect(both.ensemble.placeholder, "any placeholder member flags the ensemble")
        let stacker = Stacker(models: [.init(name: "a", digest: try ContentDigest.file(path: a)), .init(name: "b", digest: try ContentDigest.file(path: b))],
                              weights: [1, 0.5], bias: -0.2, fittedOn: "test", validationImages: 0, validationAUC: nil, memberAUC: [nil, nil])
        let stacked = try Analyzer(detectors: analyzer.detectors, stackers: [stacker]).analyze(bytes)
        #expect(abs(stacked.ensemble.probability - stacker.probability(expected)) < 1e-9 && stacked.ensemble.architecture == "stacker")
        let one = try Analyzer(detectors: analyzer.detectors, stackers: [stacker]).analyze(bytes, models: [analyzer.names[1]])
        #expect(abs(one.ensemble.probability - expected[1]) < 1e-9, "one picked model: its own score, no stacker")

        let second = try analyzer.analyze(bytes, models: [analyzer.names[1]])
        #expect(second.models.map(\.name) == [analyzer.names[1]])
        #expect(abs(second.ensemble.probability - expected[1]) < 1e-9)
        let first = try analyzer.analyze(bytes, models: [analyzer.names[0]])
        #expect(abs(first.ensemble.probability - expected[0]) < 1e-9)
        #expect(!first.ensemble.placeholder)
        // The shared name alone is ambiguous: an error that lists the names to use.
        #expect(throws: AnalyzerError.unknownModel(base.name, available: analyzer.names)) {
            try analyzer.analyze(bytes, models: [base.name])
        }

        var c = ServerConfiguration()
        c.port = 0
        try await buildApplication(analyzer: analyzer, configuration: c).test(.router) { client in
            try await client.execute(uri: "/api/v1/models", method: .get) { r in
                let models = jsonObject(r.body)["models"] as? [[String: Any]] ?? []
                #expect(models.compactMap { $0["name"] as? String } == analyzer.names)
            }
        }
    }
}

@Suite struct ServerLiveTests {
    /// Over a real socket: health, then an analysis.
    @Test func liveSocket() async throws {
        var c = ServerConfiguration()
        c.port = 0
        let app = buildApplication(analyzer: try #require(sharedAnalyzer), configuration: c)
        try await app.test(.live) { client in
            try await client.execute(uri: "/healthz", method: .get) { r in #expect(r.status == .ok) }
            try await client.execute(uri: "/api/v1/analyze", method: .post, body: try sample("fake-sd15-finetune.webp")) { r in
                #expect(r.status == .ok)
                #expect((jsonObject(r.body)["file"] as? [String: Any])?["format"] as? String == "WebP")
            }
        }
    }

    /// A real browser: headless Chromium loads the page, uploads a fixture through the file input, waits for the
    /// verdict and saves screenshots (scripts/browser_test.py; `make test` installs Chromium).
    @Test(.enabled(if: browserReady, "needs chromium, chromium-driver, python3-selenium and python3-pil (scripts/install-deps.sh test)"))
    func browserUploadShowsTheVerdict() async throws {
        var c = ServerConfiguration()
        c.port = 0
        let app = buildApplication(analyzer: try #require(sharedAnalyzer), configuration: c)
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("aidetect-browser-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let root = TestSupport.repositoryRoot
        try await app.test(.live) { client in
            let port = try #require(client.port)
            var apiVerdict = ""
            try await client.execute(uri: "/api/v1/analyze", method: .post, body: try sample("fake-sdxl-turbo.png")) { r in
                apiVerdict = (jsonObject(r.body)["fused"] as? [String: Any])?["verdict"] as? String ?? ""
            }
            let (status, report) = try await runBrowserTest(port: port, file: root.appendingPathComponent("samples/fake-sdxl-turbo.png"), output: out)
            #expect(status == 0, "browser_test.py: \(report)")
            #expect(report["verdict"] as? String == apiVerdict && ["likely-AI", "likely-real", "uncertain"].contains(apiVerdict))
            for shot in ["desktop.png", "phone.png"] {
                let png = try Data(contentsOf: out.appendingPathComponent(shot))
                #expect(png.count > 10_000 && png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "\(shot): \(png.count) bytes")
            }
            #expect((report["checks"] as? [String: Bool])?.values.allSatisfy { $0 } == true, "\(report)")
        }
    }
}

/// Runs scripts/browser_test.py against a server on `port`: its exit status and its JSON report.
func runBrowserTest(port: Int, file: URL, output: URL, extra: [String] = []) async throws -> (Int32, [String: Any]) {
    try await runScript("scripts/browser_test.py", ["--url", "http://127.0.0.1:\(port)/", "--file", file.path, "--output", output.path] + extra)
}

/// Runs one of the repository's Python scripts with Debian's python3: its exit status and the JSON it prints.
func runScript(_ script: String, _ arguments: [String]) async throws -> (Int32, [String: Any]) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: try #require(python3Path))
    p.arguments = [TestSupport.repositoryRoot.appendingPathComponent(script).path] + arguments
    let pipe = Pipe()
    p.standardOutput = pipe
    let status: Int32 = try await withCheckedThrowingContinuation { k in
        p.terminationHandler = { k.resume(returning: $0.terminationStatus) }
        do { try p.run() } catch { k.resume(throwing: error) }
    }
    let report = (try? JSONSerialization.jsonObject(with: pipe.fileHandleForReading.readDataToEndOfFile())) as? [String: Any] ?? [:]
    return (status, report)
}

func executable(_ names: [String]) -> String? {
    let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
    for n in names {
        for d in dirs where FileManager.default.isExecutableFile(atPath: "\(d)/\(n)") { return "\(d)/\(n)" }
    }
    return nil
}
let chromiumPath = executable(["chromium", "chromium-browser", "google-chrome"])
/// Debian's Python (the one with python3-selenium and python3-pil), not whichever python3 is first on PATH.
let python3Path = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : executable(["python3"])
/// The browser tests need Chromium, chromedriver and Debian's Selenium and Pillow (`make test` installs them).
let browserReady = chromiumPath != nil && executable(["chromedriver"]) != nil && python3Path != nil
    && FileManager.default.fileExists(atPath: "/usr/lib/python3/dist-packages/selenium")
    && FileManager.default.fileExists(atPath: "/usr/lib/python3/dist-packages/PIL")

/// multipart/form-data through multipart-kit: names, file names, content types and bytes (CRLFs inside a file
/// kept), a body cut short yields the parts completed before the cut, garbage yields none.
@Suite struct MultipartTests {
    @Test func partsAndTruncation() {
        let file: [UInt8] = [0xFF, 0xD8, 0x0D, 0x0A, 0x2D, 0x2D, 0x00, 0xFF]   // holds "\r\n--" that is no boundary
        var body = Array("--B\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\ndefault\r\n".utf8)
        body += Array("--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a b.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n".utf8)
        body += file + Array("\r\n--B--\r\n".utf8)
        let parts = Multipart.parse(body, boundary: "B")
        #expect(parts.count == 2)
        #expect(parts.first?.name == "model" && parts.first?.filename == nil && parts.first?.bytes == Array("default".utf8))
        #expect(parts.last?.filename == "a b.jpg" && parts.last?.contentType == "image/jpeg" && parts.last?.bytes == file)
        #expect(Multipart.parse(Array(body.prefix(body.count - 20)), boundary: "B").count == 1)
        #expect(Multipart.parse(Array("no multipart here".utf8), boundary: "B").isEmpty)
        #expect(Multipart.boundary("multipart/form-data; boundary=\"XyZ\"") == "XyZ" && Multipart.boundary("image/png") == nil)
        // A header name with a byte of 0x80 or more (multipart-kit 4.7 would trap on it) is refused, not parsed.
        let hostile = Array("--B\r\nContent-Disposition: form-data; name=\"f\"\r\n".utf8) + [0xC3, 0xA9] + Array(": x\r\n\r\ndata\r\n--B--\r\n".utf8)
        #expect(Multipart.parse(hostile, boundary: "B").isEmpty)
        // ... while such bytes in header values and in the data are fine.
        let fine = Array("--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"".utf8) + [0xC3, 0xA9] + Array(".jpg\"\r\n\r\n".utf8) + [0xFF, 0x80] + Array("\r\n--B--\r\n".utf8)
        #expect(Multipart.parse(fine, boundary: "B").first?.bytes == [0xFF, 0x80])
    }
}
