import Detection
import Explain
import Foundation
import Hummingbird
import HummingbirdTesting
import Imaging
import Journal
import Models
import Testing
import TestSupport

@testable import Server

/// A localiser trained in seconds on a toy splice set (flat red regions pasted into textured reals), so that what it
/// marks is known: the red region. Built once for the suite; `spliced` and `pristine` are images of its set.
struct ToyLocaliser: Sendable {
    let model: String
    let spliced: String
    let splicedMask: String
    let pristine: String

    static let shared: ToyLocaliser? = try? build()

    static func build() throws -> ToyLocaliser {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("aidetect-toy-localiser-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("src"), withIntermediateDirectories: true)
        var rng = SplitMix64(seed: 11)
        var reals: [Sample] = [], fakes: [Sample] = []
        for i in 0..<40 {
            var px = [UInt8](repeating: 0, count: 48 * 48 * 3)
            let (a, b) = (Int(rng.next() % 5) + 2, Int(rng.next() % 5) + 2)
            for y in 0..<48 {
                for x in 0..<48 {
                    let v = 90 + ((x / a + y / b) % 2) * 60 + Int(rng.next() % 40)
                    px[3 * (y * 48 + x)] = UInt8(v / 2); px[3 * (y * 48 + x) + 1] = UInt8(v); px[3 * (y * 48 + x) + 2] = UInt8(min(255, v + 30))
                }
            }
            for (fake, image) in [(false, Image(width: 48, height: 48, pixels: px)), (true, Image(width: 48, height: 48, fill: (245, 15, 10)))] {
                let name = "src/\(fake ? "f" : "r")\(i).png"
                try Data(ImageEncoder.png(image)).write(to: root.appendingPathComponent(name))
                let s = Sample(source: .file(root.appendingPathComponent(name).path), label: fake ? .fake : .real, generator: fake ? "red" : "photo", id: name)
                if fake { fakes.append(s) } else { reals.append(s) }
            }
        }
        var b = SpliceSetBuilder()
        b.count = 60; b.size = 48; b.pristineFraction = 0.25; b.feather = 1; b.area = 0.15...0.4; b.seed = 2
        let set = root.appendingPathComponent("set").path
        let items = try b.write(reals: reals, fakes: fakes, to: set)
        var c = LocalisationTrainer.Config(data: set)
        c.epochs = 8; c.batchSize = 8; c.inputSize = 48; c.learningRate = 3e-3
        let t = LocalisationTrainer(config: c, directory: root.appendingPathComponent("run").path)
        try t.run()
        let spliced = try #require(items.filter { $0.split == "train" && !$0.isPristine }.max { $0.area < $1.area })
        let pristine = try #require(items.first { $0.shape == "none" })
        return ToyLocaliser(model: t.modelPath, spliced: "\(set)/\(spliced.image)", splicedMask: "\(set)/\(spliced.mask)", pristine: "\(set)/\(pristine.image)")
    }
}

/// Scan-like results for the samples (JSON Lines as `scan --json` writes them): fixed probabilities, one error row.
func writeSampleResults(to url: URL) throws {
    let root = TestSupport.repositoryRoot.path
    let rows: [[String: Any]] = [
        ["path": "samples/real-P1000827.jpg", "probability": 0.12, "verdict": "likely-real"],
        ["path": "samples/fake-sdxl-turbo.png", "probability": 0.91, "verdict": "likely-AI"],
        ["path": "\(root)/samples/fake-sd15-finetune.webp", "probability": 0.55, "verdict": "uncertain", "scores": ["a": 0.5, "b": 0.6]],
        ["path": "samples/broken-truncated.jpg", "error": "samples/broken-truncated.jpg: the JPEG data ends early (truncated file)"],
        ["summary": ["files": 4]],
    ]
    try rows.map { String(decoding: try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]), as: UTF8.self) }.joined(separator: "\n")
        .write(to: url, atomically: true, encoding: .utf8)
}

func temporaryFolder(_ prefix: String) throws -> URL {
    let u = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
    return u
}

@Suite struct ReviewStoreTests {
    /// Scan results (JSON Lines and CSV) import in score order, errors last; labels and notes survive reopening the
    /// store and re-importing the results; a label outside the list is refused; a broken results file is named.
    @Test func importsResultsAndKeepsReviews() throws {
        let dir = try temporaryFolder("aidetect-review-store")
        defer { try? FileManager.default.removeItem(at: dir) }
        let results = dir.appendingPathComponent("results.jsonl")
        try writeSampleResults(to: results)
        let path = dir.appendingPathComponent("review.sqlite").path
        var store = try ReviewStore(path: path)
        #expect(try store.importResults(results.path, root: TestSupport.repositoryRoot.path) == 4)
        let items = try store.items()
        #expect(items.map(\.name) == ["samples/fake-sdxl-turbo.png", "\(TestSupport.repositoryRoot.path)/samples/fake-sd15-finetune.webp",
                                      "samples/real-P1000827.jpg", "samples/broken-truncated.jpg"])
        #expect(items[1].scores == ["a": 0.5, "b": 0.6] && items[3].error?.contains("truncated") == true && items[3].probability == nil)
        #expect(items.allSatisfy { $0.path?.hasPrefix("/") == true && $0.label == nil && !$0.hasEvidence })
        let reviewed = try store.review(items[0].id, label: "ai", note: "  ComfyUI metadata; checked the workflow  ")
        #expect(reviewed.label == "ai" && reviewed.note == "  ComfyUI metadata; checked the workflow  " && reviewed.reviewedAt != nil)
        #expect(throws: ReviewError.badLabel("fake")) { try store.review(items[1].id, label: "fake", note: nil) }
        #expect(throws: ReviewError.noItem(999)) { try store.review(999, label: "ai", note: nil) }
        // Reopened, and the same results imported again: one row per file, the review kept.
        store = try ReviewStore(path: path)
        #expect(try store.importResults(results.path, root: TestSupport.repositoryRoot.path) == 4)
        #expect(try store.items().count == 4)
        #expect(try store.item(items[0].id).label == "ai")
        // Cleared with an empty label and a blank note.
        #expect(try store.review(items[0].id, label: "", note: " ").reviewedAt == nil)
        // CSV, as scan --csv writes it (comment lines first).
        let csv = dir.appendingPathComponent("results.csv")
        try "# aidetect scan\npath,probability,verdict,error\nsamples/real-P1000827.jpg,0.2,likely-real,\nsamples/broken-truncated.jpg,,,truncated\n"
            .write(to: csv, atomically: true, encoding: .utf8)
        let other = try ReviewStore(path: dir.appendingPathComponent("csv.sqlite").path)
        #expect(try other.importResults(csv.path, root: TestSupport.repositoryRoot.path) == 2)
        #expect(try other.items().map(\.probability) == [0.2, nil])
        // A results file that is neither.
        let bad = dir.appendingPathComponent("bad.jsonl")
        try "{\"path\": \"a.jpg\"}\n{not json\n".write(to: bad, atomically: true, encoding: .utf8)
        #expect(throws: ReviewError.badResults(path: bad.path, line: 2, reason: "not a JSON object")) { try other.importResults(bad.path) }
        // Uploaded bytes are kept in the store, with their SHA-256.
        let bytes = [UInt8](try Data(contentsOf: TestSupport.repositoryRoot.appendingPathComponent("samples/real-P1000827.jpg")))
        let id = try other.addUpload(name: "upload.jpg", bytes: bytes, probability: 0.3, verdict: "uncertain")
        #expect(try other.imageBytes(id) == bytes && other.item(id).sha256 == sha256Hex(bytes) && other.item(id).path == nil)
    }
}

@Suite struct ReviewRouteTests {
    func app(store: ReviewStore, localiser: String?) throws -> some ApplicationProtocol {
        var c = ServerConfiguration()
        c.port = 0
        c.review = store
        let base = try #require(sharedAnalyzer)
        let analyzer = Analyzer(detectors: base.detectors, localiser: try localiser.map { try Localiser(path: $0) })
        return buildApplication(analyzer: analyzer, configuration: c)
    }

    /// The review API end to end: the page, items by score, images, evidence with a heat map and AI regions, labels
    /// and notes (refused when malformed), uploads, a file that has gone, and the export as HTML and PDF.
    @Test func reviewFlowOverTheAPI() async throws {
        let toy = try #require(ToyLocaliser.shared, "the toy localiser could not be trained")
        let dir = try temporaryFolder("aidetect-review-api")
        defer { try? FileManager.default.removeItem(at: dir) }
        let results = dir.appendingPathComponent("results.jsonl")
        try writeSampleResults(to: results)
        let store = try ReviewStore(path: dir.appendingPathComponent("review.sqlite").path)
        try store.importResults(results.path, root: TestSupport.repositoryRoot.path)
        // A copy of a sample that will be deleted after import.
        let gone = dir.appendingPathComponent("gone.png")
        try FileManager.default.copyItem(at: TestSupport.repositoryRoot.appendingPathComponent("samples/fake-sdxl-turbo.png"), to: gone)
        try store.addScanned(path: gone.path, probability: 0.05, verdict: "likely-real")
        try FileManager.default.removeItem(at: gone)

        try await app(store: store, localiser: toy.model).test(.router) { client in
            try await client.execute(uri: "/review", method: .get) { r in
                let html = String(buffer: r.body)
                #expect(r.status == .ok && html.contains("aidetect review") && html.contains("/api/v1/review/items") && !html.contains("https://"))
            }
            let list = try await client.execute(uri: "/api/v1/review/items", method: .get) { jsonObject($0.body) }
            let items = list["items"] as? [[String: Any]] ?? []
            let probabilities = items.compactMap { $0["probability"] as? Double }
            #expect(items.count == 5 && probabilities == probabilities.sorted(by: >) && items.last?["error"] != nil)
            #expect(list["localiser"] as? String == "run/best.safetensors")
            let ids = items.compactMap { ($0["id"] as? NSNumber)?.int64Value }
            let byName = Dictionary(uniqueKeysWithValues: zip(items.compactMap { $0["name"] as? String }, ids))
            let turbo = try #require(byName["samples/fake-sdxl-turbo.png"]), photo = try #require(byName["samples/real-P1000827.jpg"])

            try await client.execute(uri: "/api/v1/review/items/\(turbo)/image?side=64", method: .get) { r in
                #expect(r.status == .ok && r.headers[.contentType] == "image/jpeg")
                let image = try ImageDecoder().decode(data: Array(r.body.readableBytesView)).image
                #expect(max(image.width, image.height) == 64)
            }
            try await client.execute(uri: "/api/v1/review/items/\(turbo)/evidence", method: .get) { r in
                #expect(r.status == .ok)
                let j = jsonObject(r.body)
                #expect((j["heatmaps"] as? [[String: Any]])?.first?["method"] as? String == "gradcam")
                let loc = (j["localisation"] as? [String: Any])?["result"] as? [String: Any]
                #expect(loc?["model"] as? String == "run/best.safetensors" && (loc?["width"] as? Int ?? 0) > 0)
                #expect((j["fused"] as? [String: Any])?["verdict"] as? String == "likely-AI", "ComfyUI metadata decides")
            }
            #expect(try store.item(turbo).hasEvidence && store.item(turbo).sha256?.count == 64)

            // Labels and notes; a note's markup stays text.
            let note = "Workflow in the PNG <script>alert(1)</script> & prompt"
            let put = try JSONSerialization.data(withJSONObject: ["label": "ai", "note": note])
            try await client.execute(uri: "/api/v1/review/items/\(turbo)", method: .put, body: ByteBuffer(bytes: put)) { r in
                #expect(r.status == .ok && jsonObject(r.body)["label"] as? String == "ai" && jsonObject(r.body)["note"] as? String == note)
            }
            let put2 = try JSONSerialization.data(withJSONObject: ["label": "real", "note": "Camera EXIF matches the photographer's other work"])
            try await client.execute(uri: "/api/v1/review/items/\(photo)", method: .put, body: ByteBuffer(bytes: put2)) { r in #expect(r.status == .ok) }
            // A label alone keeps the note; a note over the limit is refused whole, not cut.
            try await client.execute(uri: "/api/v1/review/items/\(photo)", method: .put, body: ByteBuffer(string: "{\"label\": \"unsure\"}")) { r in
                #expect(jsonObject(r.body)["label"] as? String == "unsure" && (jsonObject(r.body)["note"] as? String)?.hasPrefix("Camera EXIF") == true)
            }
            try await client.execute(uri: "/api/v1/review/items/\(photo)", method: .put, body: ByteBuffer(string: "{\"label\": \"real\"}")) { r in #expect(r.status == .ok) }
            let long = try JSONSerialization.data(withJSONObject: ["note": String(repeating: "x", count: ReviewStore.maxNote + 1)])
            try await client.execute(uri: "/api/v1/review/items/\(photo)", method: .put, body: ByteBuffer(bytes: long)) { r in
                #expect(r.status == .badRequest && (jsonObject(r.body)["error"] as? [String: Any])?["kind"] as? String == "bad_note")
            }
            // Another web site open in the reviewer's browser cannot change the review; the page itself can.
            try await client.execute(uri: "/api/v1/review/items/\(photo)", method: .put, headers: [.origin: "https://evil.example"],
                                     body: ByteBuffer(string: "{\"label\": \"ai\"}")) { r in
                #expect(r.status == .forbidden && (jsonObject(r.body)["error"] as? [String: Any])?["kind"] as? String == "cross_origin")
            }
            // (The page's own requests carry its Origin: the browser test saves labels through them.)
            #expect(try store.item(photo).label == "real" && store.item(photo).note?.hasPrefix("Camera EXIF") == true)
            for (uri, body, status, kind) in [
                ("/api/v1/review/items/\(photo)", "{\"label\": \"fake\"}", HTTPResponse.Status.badRequest, "bad_label"),
                ("/api/v1/review/items/\(photo)", "{\"label\": 3}", .badRequest, "bad_label"),
                ("/api/v1/review/items/\(photo)", "not json", .badRequest, "bad_json"),
                ("/api/v1/review/items/\(photo)", "{\"note\": 5}", .badRequest, "bad_note"),
                ("/api/v1/review/items/99999", "{\"label\": \"ai\"}", .notFound, "no_item"),
                ("/api/v1/review/items/abc", "{\"label\": \"ai\"}", .badRequest, "bad_id"),
            ] {
                try await client.execute(uri: uri, method: .put, body: ByteBuffer(string: body)) { r in
                    #expect(r.status == status && (jsonObject(r.body)["error"] as? [String: Any])?["kind"] as? String == kind, "\(uri) \(body)")
                }
            }
            try await client.execute(uri: "/api/v1/review/items/99999/evidence", method: .get) { r in #expect(r.status == .notFound) }
            // The file deleted after the scan: a clear 404 naming it; the review goes on.
            let goneID = try #require(byName["gone.png"])
            try await client.execute(uri: "/api/v1/review/items/\(goneID)/image", method: .get) { r in
                let e = jsonObject(r.body)["error"] as? [String: Any]
                #expect(r.status == .notFound && e?["kind"] as? String == "file_gone" && (e?["message"] as? String)?.contains("gone.png") == true)
            }
            // An upload joins the review, its bytes kept.
            try await client.execute(uri: "/api/v1/review/items?name=toy-spliced.png", method: .post,
                                     body: ByteBuffer(bytes: try Data(contentsOf: URL(fileURLWithPath: toy.spliced)))) { r in
                #expect(r.status == .created && jsonObject(r.body)["name"] as? String == "toy-spliced.png" && jsonObject(r.body)["hasEvidence"] as? Bool == true)
            }
            try await client.execute(uri: "/api/v1/review/items?name=junk.png", method: .post, body: ByteBuffer(string: "not an image")) { r in
                #expect(r.status == .unsupportedMediaType)
            }
            #expect(try store.items().count == 6)

            // The export: the two labelled images, self-contained, the note escaped.
            try await client.execute(uri: "/api/v1/review/export.html", method: .get) { r in
                let html = String(buffer: r.body)
                #expect(r.status == .ok && r.headers[.contentDisposition]?.contains("aidetect-review.html") == true)
                #expect(html.contains("Workflow in the PNG &lt;script&gt;alert(1)&lt;/script&gt; &amp; prompt") && !html.contains("<script"))
                #expect(html.contains("Camera EXIF matches the photographer&#39;s other work"))
                #expect(html.components(separatedBy: "class=\"item\"").count - 1 == 2)
                #expect(html.contains("data:image/jpeg;base64,") && html.contains("gradcam heat map") && html.contains("AI regions"))
                #expect(!html.contains("src=\"http") && !html.contains("href=\"http"), "nothing loaded from elsewhere")
                #expect(html.contains("AI-made") && html.contains("SHA-256"))
            }
            try await client.execute(uri: "/api/v1/review/export.html?scope=all", method: .get) { r in
                #expect(String(buffer: r.body).components(separatedBy: "class=\"item\"").count - 1 == 6)
                #expect(String(buffer: r.body).contains("Could not be analysed: samples/broken-truncated.jpg"))
                #expect(String(buffer: r.body).contains("The full evidence could not be made") && String(buffer: r.body).contains("gone.png can no longer be read"))
            }
            try await client.execute(uri: "/api/v1/review/export.pdf", method: .get) { r in
                if ReviewExport.chromium != nil {
                    #expect(r.status == .ok && r.headers[.contentType] == "application/pdf" && Array(r.body.readableBytesView.prefix(5)) == Array("%PDF-".utf8))
                } else {
                    #expect(r.status == .notImplemented)
                }
            }
        }
    }

    /// Without labels the export says what to do; without a store there are no review routes.
    @Test func nothingToExportAndNoStore() async throws {
        let dir = try temporaryFolder("aidetect-review-empty")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try ReviewStore(path: dir.appendingPathComponent("review.sqlite").path)
        try await app(store: store, localiser: nil).test(.router) { client in
            try await client.execute(uri: "/api/v1/review/export.html", method: .get) { r in
                #expect(r.status == .badRequest && ((jsonObject(r.body)["error"] as? [String: Any])?["message"] as? String)?.contains("label") == true)
            }
        }
        var c = ServerConfiguration()
        c.port = 0
        try await buildApplication(analyzer: try #require(sharedAnalyzer), configuration: c).test(.router) { client in
            try await client.execute(uri: "/review", method: .get) { r in #expect(r.status == .notFound) }
        }
    }
}

@Suite struct LocalisationAPITests {
    /// `localise=true` marks the toy localiser's red region: the region overlaps the truth, the mask comes at the
    /// overlay size; a pristine image gets no region; without a localiser a warning; a bad value is a 400.
    @Test func analyzeMarksAIRegions() async throws {
        let toy = try #require(ToyLocaliser.shared, "the toy localiser could not be trained")
        var c = ServerConfiguration()
        c.port = 0
        let base = try #require(sharedAnalyzer)
        let analyzer = Analyzer(detectors: base.detectors, localiser: try Localiser(path: toy.model))
        try await buildApplication(analyzer: analyzer, configuration: c).test(.router) { client in
            let models = try await client.execute(uri: "/api/v1/models", method: .get) { jsonObject($0.body) }
            #expect(models["localiser"] as? String == "run/best.safetensors")
            try await client.execute(uri: "/api/v1/analyze?localise=true", method: .post, body: ByteBuffer(bytes: try Data(contentsOf: URL(fileURLWithPath: toy.spliced)))) { r in
                #expect(r.status == .ok)
                let loc = jsonObject(r.body)["localisation"] as? [String: Any]
                let result = loc?["result"] as? [String: Any] ?? [:]
                #expect(result["containsAIRegion"] as? Bool == true, "\(result)")
                let regions = result["regions"] as? [[String: Any]] ?? []
                let truth = BoxLocalisation.truth(mask: try ImageDecoder().decode(path: toy.splicedMask).image).first
                func box(_ r: [String: Any]) -> ScoredBox {
                    let x = Double(r["x"] as? Int ?? 0), y = Double(r["y"] as? Int ?? 0)
                    let w = Double(r["width"] as? Int ?? 0), h = Double(r["height"] as? Int ?? 0)
                    return ScoredBox(x1: x, y1: y, x2: x + w, y2: y + h)
                }
                let found: ScoredBox? = regions.first.map(box)
                var overlap = 0.0
                if let found, let truth { overlap = found.iou(truth) }
                #expect(overlap > 0.5, "found \(String(describing: found)), truth \(String(describing: truth))")
                let mask = try ImageDecoder().decode(data: Array(Data(base64Encoded: loc?["maskPNG"] as? String ?? "") ?? Data())).image
                #expect(mask.width == 48 && mask.height == 48)
            }
            try await client.execute(uri: "/api/v1/analyze?localise=true", method: .post, body: ByteBuffer(bytes: try Data(contentsOf: URL(fileURLWithPath: toy.pristine)))) { r in
                let result = (jsonObject(r.body)["localisation"] as? [String: Any])?["result"] as? [String: Any] ?? [:]
                #expect(result["containsAIRegion"] as? Bool == false && (result["regions"] as? [Any])?.isEmpty == true, "\(result)")
            }
            try await client.execute(uri: "/api/v1/analyze?localise=maybe", method: .post, body: try sample("real-P1000827.jpg")) { r in #expect(r.status == .badRequest) }
        }
        try await buildApplication(analyzer: base, configuration: c).test(.router) { client in
            try await client.execute(uri: "/api/v1/analyze?localise=true", method: .post, body: try sample("real-P1000827.jpg")) { r in
                let j = jsonObject(r.body)
                #expect(r.status == .ok && j["localisation"] == nil && (j["warnings"] as? [String])?.contains { $0.contains("no localiser") } == true)
            }
        }
    }
}

@Suite struct ReviewBrowserTests {
    /// The upload page with a localiser: headless Chromium uploads a spliced image and presses "AI regions"; the
    /// overlay shows the regions outlined (scripts/browser_test.py --expect-mask).
    @Test(.enabled(if: browserReady, "needs chromium, chromium-driver, python3-selenium and python3-pil (scripts/install-deps.sh test)"))
    func browserUploadShowsTheAIRegions() async throws {
        let toy = try #require(ToyLocaliser.shared, "the toy localiser could not be trained")
        var c = ServerConfiguration()
        c.port = 0
        let base = try #require(sharedAnalyzer)
        let app = buildApplication(analyzer: Analyzer(detectors: base.detectors, localiser: try Localiser(path: toy.model)), configuration: c)
        let out = try temporaryFolder("aidetect-browser-mask")
        defer { try? FileManager.default.removeItem(at: out) }
        try await app.test(.live) { client in
            let (status, report) = try await runBrowserTest(port: try #require(client.port), file: URL(fileURLWithPath: toy.spliced), output: out,
                                                            extra: ["--expect-mask"])
            #expect(status == 0, "browser_test.py: \(report)")
            #expect((report["checks"] as? [String: Bool])?["AI regions outlined in the overlay"] == true, "\(report)")
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("mask.png").path))
        }
    }

    /// The review flow in headless Chromium (scripts/review_browser_test.py): a scan's results open as a grid sorted by
    /// score, the first image side by side with its evidence and AI-region overlay, two images labelled with notes,
    /// the HTML and PDF exports fetched through the page's links; screenshots at desktop and phone width.
    @Test(.enabled(if: browserReady, "needs chromium, chromium-driver, python3-selenium and python3-pil (scripts/install-deps.sh test)"))
    func browserReviewFlow() async throws {
        let toy = try #require(ToyLocaliser.shared, "the toy localiser could not be trained")
        let dir = try temporaryFolder("aidetect-browser-review")
        defer { try? FileManager.default.removeItem(at: dir) }
        try writeSampleResults(to: dir.appendingPathComponent("results.jsonl"))
        let store = try ReviewStore(path: dir.appendingPathComponent("review.sqlite").path)
        try store.importResults(dir.appendingPathComponent("results.jsonl").path, root: TestSupport.repositoryRoot.path)
        var c = ServerConfiguration()
        c.port = 0
        c.review = store
        let base = try #require(sharedAnalyzer)
        let app = buildApplication(analyzer: Analyzer(detectors: base.detectors, localiser: try Localiser(path: toy.model)), configuration: c)
        let out = dir.appendingPathComponent("shots")
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let (status, report) = try await runScript("scripts/review_browser_test.py",
                                                       ["--url", "http://127.0.0.1:\(port)/review", "--output", out.path, "--expect-mask"])
            #expect(status == 0, "review_browser_test.py: \(report)")
            for shot in ["grid-desktop.png", "detail-desktop.png", "detail-phone.png", "grid-phone.png", "export-desktop.png"] {
                let png = (try? Data(contentsOf: out.appendingPathComponent(shot))) ?? Data()
                #expect(png.count > 10_000 && png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "\(shot): \(png.count) bytes")
            }
        }
        // The labels went to the store, as a reviewer reopening it would find them.
        let labelled = try store.items().filter { $0.label != nil }
        #expect(labelled.count == 2 && Set(labelled.compactMap(\.label)) == ["ai", "real"] && labelled.allSatisfy { $0.note != nil })
    }
}
