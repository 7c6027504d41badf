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

    /// The item's bytes, or a typed error when its file is gone.
    func bytes(_ id: Int64) throws -> [UInt8] {
        let item = try store.item(id)
        do { return try store.imageBytes(id) } catch let e as ReviewError { throw e } catch {
            throw APIError(status: .notFound, message: "\(item.path ?? item.name) can no longer be read: \(error.localizedDescription)", kind: "file_gone")
        }
    }

    /// The evidence report of an item: stored, or made now (heat map, AI regions, provenance) and stored.
    func evidence(_ id: Int64) async throws -> Analyzer.Report {
        if let data = try store.evidence(id), let r = try? Self.decoder.decode(Analyzer.Report.self, from: data) { return r }
        let item = try store.item(id)
        let bytes = try bytes(id)
        let (analyzer, methods) = (self.analyzer, self.methods)
        let report = try await withGate(gate, workers, timeout: timeout) {
            try analyzer.analyze(bytes, name: item.name, explain: methods, localise: analyzer.localiser != nil)
        }
        let digest = sha256Hex(bytes)
        try store.setEvidence(id, report: try jsonEncoder.encode(report), sha256: digest, probability: report.ensemble.probability, verdict: report.fused.verdict)
        return report
    }

    /// A JPEG of the item at most `side` pixels on its longer side.
    func jpeg(_ id: Int64, side: Int) async throws -> [UInt8] {
        let bytes = try bytes(id)
        let limits = analyzer.limits
        return try await withGate(gate, workers, timeout: timeout) {
            let image = try ImageDecoder(limits: limits).decode(data: bytes, name: "image").image
            let scale = min(1, Double(side) / Double(max(image.width, image.height)))
            let small = scale < 1 ? image.resized(width: max(1, Int(Double(image.width) * scale)), height: max(1, Int(Double(image.height) * scale)), filter: .area) : image
            return ImageEncoder.jpeg(small, quality: 85)
        }
    }

    /// The export's entries: the labelled items (or all, at most 500), each with its evidence (made where missing).
    func entries(all: Bool) async throws -> [ReviewExport.Entry] {
        let items = try store.items().filter { all || $0.label != nil }
        guard !items.isEmpty else {
            throw APIError(status: .badRequest, message: all ? "the review holds no images" : "no image is labelled yet: label one, or export with scope=all", kind: "nothing_to_export")
        }
        guard items.count <= 500 else {
            throw APIError(status: .contentTooLarge, message: "\(items.count) images: export at most 500 at once (label the ones to export)", kind: "too_many_items")
        }
        var out: [ReviewExport.Entry] = []
        for item in items {
            // An image that cannot be read or analysed any more is still exported with what the store knows.
            let report = try? await evidence(item.id)
            let jpeg = try? await jpeg(item.id, side: 1024)
            out.append(ReviewExport.Entry(item: try store.item(item.id), report: report, jpeg: jpeg))
        }
        return out
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

func sha256Hex(_ bytes: [UInt8]) -> String { ReviewStore.sha256(bytes) }

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
            let (bytes, name) = try await uploadedFile(request, limit: maxBody)
            let (analyzer, methods) = (s.analyzer, s.methods)
            let report = try await withGate(s.gate, s.workers, timeout: s.timeout) {
                try analyzer.analyze(bytes, name: name, explain: methods, localise: analyzer.localiser != nil)
            }
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
            let jpeg = try await s.jpeg(try id(context), side: side)
            return Response(status: .ok, headers: [.contentType: "image/jpeg", .cacheControl: "private, max-age=3600"],
                            body: .init(byteBuffer: ByteBuffer(bytes: jpeg)))
        } catch { throw APIError.from(error) }
    }
    router.get("/api/v1/review/items/:id/evidence") { _, context in
        do { return try encoded(try await s.evidence(try id(context))) } catch { throw APIError.from(error) }
    }
    router.put("/api/v1/review/items/:id") { request, context in
        do {
            let item = try id(context)
            var body = try await request.body.collect(upTo: 1 << 20)
            guard let o = (try? JSONSerialization.jsonObject(with: Data(body.readBytes(length: body.readableBytes) ?? []))) as? [String: Any] else {
                throw APIError(status: .badRequest, message: "send JSON: {\"label\": \"ai\"|\"real\"|\"unsure\"|null, \"note\": \"...\"}", kind: "bad_json")
            }
            let label = o["label"] as? String, note = o["note"] as? String
            if o["label"] != nil && !(o["label"] is NSNull) && label == nil {
                throw ReviewError.badLabel(String(describing: o["label"]!))
            }
            return try encoded(try s.store.review(item, label: label, note: note))
        } catch { throw APIError.from(error) }
    }
    router.get("/api/v1/review/export.html") { request, _ in
        do {
            let all = request.uri.queryParameters["scope"] == "all"
            let html = ReviewExport.html(try await s.entries(all: all), caveat: Reliability.caveat)
            return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .contentDisposition: "attachment; filename=\"aidetect-review.html\""],
                            body: .init(byteBuffer: ByteBuffer(string: html)))
        } catch { throw APIError.from(error) }
    }
    router.get("/api/v1/review/export.pdf") { request, _ in
        do {
            let all = request.uri.queryParameters["scope"] == "all"
            let html = ReviewExport.html(try await s.entries(all: all), caveat: Reliability.caveat)
            let pdf = try await withCheckedThrowingContinuation { (k: CheckedContinuation<Data, any Error>) in
                DispatchQueue.global().async { k.resume(with: Result { try ReviewExport.pdf(html) }) }
            }
            return Response(status: .ok, headers: [.contentType: "application/pdf", .contentDisposition: "attachment; filename=\"aidetect-review.pdf\""],
                            body: .init(byteBuffer: ByteBuffer(bytes: pdf)))
        } catch { throw APIError.from(error) }
    }
}

struct ItemList: Encodable {
    var items: [ReviewItem]
    var counts: [String: Int]
    var localiser: String?
    var caveat: String
}
