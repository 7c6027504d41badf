import Detection
import Explain
import Foundation
import Hummingbird
import Imaging
import Journal
import NIOCore

/// The review page's API (`/review`, `/api/v1/review/...`), served when the server has a review store
/// (`aidetect review`, or `serve --review FILE`): the items sorted by score, each image, its evidence (made once and
/// kept), the reviewer's label and note, uploads added to the review, and the export as HTML or PDF.
struct ReviewService: Sendable {
    let store: ReviewStore
    let analyzer: Analyzer
    let gate: InferenceGate
    let workers: InferenceThreads
    let timeout: Double
    let exportSlot = InferenceGate(limit: 1, maxQueue: 2)

    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }()

    /// The explanation the evidence carries: the first of Grad-CAM and saliency that applies to the primary model.
    var methods: [ExplanationMethod] {
        let applicable = analyzer.explanationMethods(model: 0)
        return [ExplanationMethod.gradcam, .saliency].first(where: applicable.contains).map { [$0] } ?? []
    }

    /// The item's bytes (within the server's file limit), or a typed error when its file is gone.
    func bytes(_ id: Int64) throws -> [UInt8] {
        do { return try store.imageBytes(id, maxBytes: analyzer.limits.maxBytes) } catch ReviewError.unreadableImage(let path, let reason) {
            throw APIError(status: .notFound, message: "\(path) can no longer be read: \(reason)", kind: "file_gone")
        }
    }

    /// The evidence of image bytes: the verdict, a heat map, AI regions (with a localiser) and provenance. Call it on
    /// an inference thread (inside `withGate`).
    func report(_ bytes: [UInt8], name: String?) throws -> Analyzer.Report {
        try analyzer.analyze(bytes, name: name, explain: methods, localise: analyzer.localiser != nil)
    }

    /// The evidence report of an item: stored (when made from the bytes the file holds now), or made now and stored,
    /// inside the inference slot, so that work finished after a client's timeout is kept for the next request.
    func evidence(_ id: Int64, bytes given: [UInt8]? = nil) async throws -> Analyzer.Report {
        let item = try store.item(id)
        let bytes = try given ?? bytes(id)
        let digest = sha256Hex(bytes)
        if item.sha256 == digest, let data = try store.evidence(id), let r = try? Self.decoder.decode(Analyzer.Report.self, from: data) { return r }
        let store = self.store
        return try await withGate(gate, workers, timeout: timeout) {
            let report = try self.report(bytes, name: item.name)
            try store.setEvidence(id, report: try jsonEncoder.encode(report), sha256: digest, probability: report.ensemble.probability,
                                  verdict: report.fused.verdict)
            return report
        }
    }

    /// A JPEG of image bytes at most `side` pixels on its longer side.
    func jpeg(_ bytes: [UInt8], side: Int) async throws -> [UInt8] {
        let limits = analyzer.limits
        return try await withGate(gate, workers, timeout: timeout) {
            ImageEncoder.jpeg(try ImageDecoder(limits: limits).decode(data: bytes, name: "image").image.resized(longerSideAtMost: side), quality: 85)
        }
    }

    /// Most images in one export.
    static let maxExport = 500

    /// The export's entries: the labelled items (or all, at most `maxExport`), each with its evidence (made where
    /// missing) and its pictures as JPEGs at most 1024 px (heat maps and overlays 768 px).
    func entries(all: Bool) async throws -> [ReviewExport.Entry] {
        let items = try store.items().filter { all || $0.label != nil }
        guard !items.isEmpty else {
            throw APIError(status: .badRequest, message: all ? "the review holds no images" : "no image is labelled yet: label one, or export with scope=all", kind: "nothing_to_export")
        }
        guard items.count <= Self.maxExport else {
            throw APIError(status: .unprocessableContent, message: "\(items.count) images: export at most \(Self.maxExport) at once (label the ones to export)", kind: "too_many_items")
        }
        var out: [ReviewExport.Entry] = []
        for item in items {
            // An image that cannot be read or analysed any more is still exported with what the store knows, and why.
            var entry = ReviewExport.Entry(item: item, report: nil, jpeg: nil)
            do {
                let bytes = try bytes(item.id)   // read once for the picture and the evidence
                entry.jpeg = try? await jpeg(bytes, side: 1024)
                entry.report = try await evidence(item.id, bytes: bytes)
            } catch { entry.problem = APIError.from(error).message }
            entry.item = try store.item(item.id)
            out.append(ReviewExport.compacted(entry))
        }
        return out
    }

    /// The export as HTML: all items with `scope=all`, else the labelled ones.
    func exportHTML(_ request: Request) async throws -> String {
        let all = request.uri.queryParameters["scope"] == "all"
        return try await exporting { ReviewExport.html(try await entries(all: all), caveat: Reliability.caveat) }
    }
}

extension ReviewExport {
    /// The export's entries without a server (`aidetect review export`): the labelled items (or all), each with its
    /// evidence, made where the store lacks it, one image at a time.
    public static func entries(store: ReviewStore, analyzer: Analyzer, all: Bool, timeout: Double = 600) async throws -> [Entry] {
        let gate = InferenceGate(limit: 1, maxQueue: 1)
        let service = ReviewService(store: store, analyzer: analyzer, gate: gate, workers: InferenceThreads(count: 1), timeout: timeout)
        do { return try await service.entries(all: all) } catch let e as APIError { throw ReviewExportError(message: e.message) }
    }
}

/// Why an export could not be made (nothing labelled, too many images).
public struct ReviewExportError: Error, LocalizedError {
    public let message: String
    public var errorDescription: String? { message }
}

/// The review's routes on `router` (see `ReviewService`).
func addReviewRoutes(_ router: Router<AppContext>, service s: ReviewService, maxBody: Int) {
    @Sendable func id(_ context: AppContext) throws -> Int64 {
        guard let text = context.parameters.get("id"), let v = Int64(text) else {
            throw APIError(status: .badRequest, message: "the item id must be a number", kind: "bad_id")
        }
        return v
    }
    router.get("/review") { _, _ in
        Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: ReviewPage.html)))
    }
    router.get("/api/v1/review/items") { _, _ in
        do {
            let items = try s.store.items()
            let counts = ["items": items.count, "labelled": items.filter { $0.label != nil }.count]
            return try encoded(ItemList(items: items, counts: counts, localiser: s.analyzer.localiser?.name, caveat: Reliability.caveat))
        } catch { throw APIError.from(error) }
    }
    router.post("/api/v1/review/items") { request, _ in
        // An upload joins the review: scored, its evidence made, its bytes kept in the store.
        do {
            try sameOrigin(request)
            let (bytes, name) = try await uploadedFile(request, limit: maxBody)
            let report = try await withGate(s.gate, s.workers, timeout: s.timeout) { try s.report(bytes, name: name) }
            let scores = Dictionary(report.models.map { ($0.name, $0.probability) }, uniquingKeysWith: { a, _ in a })
            let newID = try s.store.addUpload(name: name ?? "upload", bytes: bytes, probability: report.ensemble.probability, verdict: report.fused.verdict,
                                              scores: scores.count > 1 ? scores : nil, evidence: try jsonEncoder.encode(report))
            var r = try encoded(try s.store.item(newID))
            r.status = .created
            return r
        } catch { throw APIError.from(error) }
    }
    router.get("/api/v1/review/items/:id") { _, context in
        do { return try encoded(try s.store.item(try id(context))) } catch { throw APIError.from(error) }
    }
    router.get("/api/v1/review/items/:id/image") { request, context in
        do {
            let side = min(2048, max(32, request.uri.queryParameters["side"].flatMap { Int($0) } ?? 1024))
            let jpeg = try await s.jpeg(try s.bytes(try id(context)), side: side)
            return Response(status: .ok, headers: [.contentType: "image/jpeg", .cacheControl: "private, max-age=3600"],
                            body: .init(byteBuffer: ByteBuffer(bytes: jpeg)))
        } catch { throw APIError.from(error) }
    }
    router.get("/api/v1/review/items/:id/evidence") { _, context in
        do { return try encoded(try await s.evidence(try id(context))) } catch { throw APIError.from(error) }
    }
    router.put("/api/v1/review/items/:id") { request, context in
        do {
            try sameOrigin(request)
            let item = try id(context)
            var body = try await request.body.collect(upTo: 1 << 20)
            guard let o = (try? JSONSerialization.jsonObject(with: Data(body.readBytes(length: body.readableBytes) ?? []))) as? [String: Any] else {
                throw APIError(status: .badRequest, message: "send JSON: {\"label\": \"ai\"|\"real\"|\"unsure\"|null, \"note\": \"...\"}", kind: "bad_json")
            }
            // Only the keys sent change: a label alone keeps the note.
            let label = o["label"] as? String, note = o["note"] as? String
            if let v = o["label"], !(v is NSNull), label == nil { throw ReviewError.badLabel(String(describing: v)) }
            if let v = o["note"], !(v is NSNull), note == nil {
                throw APIError(status: .badRequest, message: "note must be a string or null", kind: "bad_note")
            }
            return try encoded(try s.store.review(item, setLabel: o["label"] != nil, label: label, setNote: o["note"] != nil, note: note))
        } catch { throw APIError.from(error) }
    }
    router.get("/api/v1/review/export.html") { request, _ in
        do {
            let html = try await s.exportHTML(request)
            return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .contentDisposition: "attachment; filename=\"aidetect-review.html\""],
                            body: .init(byteBuffer: ByteBuffer(string: html)))
        } catch { throw APIError.from(error) }
    }
    router.get("/api/v1/review/export.pdf") { request, _ in
        do {
            guard ReviewExport.chromium != nil else { throw ReviewExport.PDFError.noChromium }
            let html = try await s.exportHTML(request)
            let pdf = try await withCheckedThrowingContinuation { (k: CheckedContinuation<Data, any Error>) in
                DispatchQueue.global().async { k.resume(with: Result { try ReviewExport.pdf(html) }) }
            }
            return Response(status: .ok, headers: [.contentType: "application/pdf", .contentDisposition: "attachment; filename=\"aidetect-review.pdf\""],
                            body: .init(byteBuffer: ByteBuffer(bytes: pdf)))
        } catch { throw APIError.from(error) }
    }
}

/// A browser sends `Origin` with a cross-site POST or PUT; the review's writes are refused unless it names this
/// server (another web page open in the reviewer's browser must not add images or change labels). Clients that send
/// no `Origin` (curl, scripts) are not browsers on another site.
func sameOrigin(_ request: Request) throws {
    guard let origin = request.headers[.origin] else { return }
    let host = request.head.authority ?? ""
    guard let u = URL(string: origin), let h = u.host, "\(h)\(u.port.map { ":\($0)" } ?? "")" == host else {
        throw APIError(status: .forbidden, message: "the review's changes are taken only from its own page (Origin \(origin) is not \(host))", kind: "cross_origin")
    }
}

extension ReviewService {
    /// One export at a time (each holds its images in memory and may start Chromium), two more may wait (the HTML
    /// and the PDF asked for together); beyond that 503.
    func exporting<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do { try await exportSlot.enter() } catch {
            throw APIError(status: .serviceUnavailable, message: "other exports are being made; retry shortly", kind: "busy", headers: [.retryAfter: "10"])
        }
        do {
            let r = try await body()
            await exportSlot.leave()
            return r
        } catch {
            await exportSlot.leave()
            throw error
        }
    }
}

struct ItemList: Encodable {
    var items: [ReviewItem]
    var counts: [String: Int]
    var localiser: String?
    var caveat: String
}
