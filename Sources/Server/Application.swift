import Detection
import Explain
import Foundation
import Hummingbird
import Imaging
import Journal
import NIOCore

/// Server settings (`aidetect serve` flags).
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Largest request body (bytes); larger gets 413.
    public var maxBodyBytes = 50 << 20
    /// Inference slots (default: cores) and waiting requests beyond them; more gets 503 + Retry-After.
    public var concurrency = ProcessInfo.processInfo.activeProcessorCount
    public var maxQueue = 64
    /// Seconds a request may wait and run before it gets 503 (its work is abandoned).
    public var requestTimeout = 30.0
    /// Files per batch request.
    public var maxBatchFiles = 64
    /// Seconds a connection may send nothing (headers not finished, an upload stalled, keep-alive unused) before the
    /// server closes it: slow or abandoned clients do not hold connections and buffers for ever.
    public var idleTimeout = 30.0
    /// The review store that `/review` and `/api/v1/review/...` work on (nil: no review routes).
    public var review: ReviewStore?
    public init() {}
}

/// Request context. Bodies are collected with the application's own limit (`maxBodyBytes`), not a global one.
public struct AppContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public init(source: ApplicationRequestContextSource) { coreContext = .init(source: source) }
}

/// The routes, listed for the OpenAPI check.
public enum Routes {
    public static let all: [(method: String, path: String)] = [
        ("GET", "/"), ("GET", "/healthz"), ("GET", "/metrics"), ("GET", "/openapi.json"), ("GET", "/api/v1/models"),
        ("POST", "/api/v1/analyze"), ("POST", "/api/v1/batch"),
    ]
    /// With a review store (`ServerConfiguration.review`).
    public static let review: [(method: String, path: String)] = [
        ("GET", "/review"), ("GET", "/api/v1/review/items"), ("POST", "/api/v1/review/items"), ("GET", "/api/v1/review/items/{id}"),
        ("PUT", "/api/v1/review/items/{id}"), ("GET", "/api/v1/review/items/{id}/image"), ("GET", "/api/v1/review/items/{id}/evidence"),
        ("GET", "/api/v1/review/export.html"), ("GET", "/api/v1/review/export.pdf"),
    ]
}

/// An error answered as JSON `{"error": {"message": ..., "kind": ...}}` with its status.
struct APIError: HTTPResponseError {
    let status: HTTPResponse.Status
    let message: String
    let kind: String
    var headers: HTTPFields = [:]

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = try JSONSerialization.data(withJSONObject: ["error": ["message": message, "kind": kind]], options: [.sortedKeys])
        var h = headers
        h[.contentType] = "application/json"
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func from(_ error: any Error) -> APIError {
        switch error {
        case let e as APIError: return e
        case let e as ImageError:
            switch e {
            case .fileTooLarge: return APIError(status: .contentTooLarge, message: e.localizedDescription, kind: e.kind)
            case .dimensionsTooLarge: return APIError(status: .contentTooLarge, message: e.localizedDescription, kind: e.kind)
            case .unsupportedFormat: return APIError(status: .unsupportedMediaType, message: e.localizedDescription, kind: e.kind)
            case .empty: return APIError(status: .badRequest, message: e.localizedDescription, kind: e.kind)
            default: return APIError(status: .unprocessableContent, message: e.localizedDescription, kind: e.kind)
            }
        case let e as AnalyzerError: return APIError(status: .badRequest, message: e.localizedDescription, kind: "bad_option")
        case let e as ReviewError:
            switch e {
            case .noItem: return APIError(status: .notFound, message: e.localizedDescription, kind: "no_item")
            case .badLabel: return APIError(status: .badRequest, message: e.localizedDescription, kind: "bad_label")
            case .badNote: return APIError(status: .badRequest, message: e.localizedDescription, kind: "bad_note")
            case .unreadableImage: return APIError(status: .notFound, message: e.localizedDescription, kind: "file_gone")
            default: return APIError(status: .internalServerError, message: e.localizedDescription, kind: "review_store")
            }
        case let e as ReviewExport.PDFError:
            return APIError(status: e.isMissing ? .notImplemented : .internalServerError, message: e.localizedDescription, kind: "pdf")
        case let e as ExplainError: return APIError(status: .unprocessableContent, message: e.localizedDescription, kind: "explain")
        case is NIOTooManyBytesError: return APIError(status: .contentTooLarge, message: "the request body is over the server's limit", kind: "body_too_large")
        case InferenceGate.Failure.full:
            return APIError(status: .serviceUnavailable, message: "the server is busy; retry shortly", kind: "busy", headers: [.retryAfter: "2"])
        case is CancellationError, is TimeoutError:
            return APIError(status: .serviceUnavailable, message: "the request took longer than the server's limit", kind: "timeout", headers: [.retryAfter: "5"])
        default: return APIError(status: .internalServerError, message: "internal error", kind: "internal")
        }
    }
}

struct TimeoutError: Error {}

/// Builds the application: page, REST API, health, metrics and OpenAPI document.
///
/// ```swift
/// let app = try buildApplication(analyzer: Analyzer.load(models: ["default"]), configuration: .init())
/// try await app.runService()
/// ```
public func buildApplication(analyzer: Analyzer, configuration: ServerConfiguration, metrics: ServerMetrics = ServerMetrics(),
                             drain: DrainState = DrainState())
    -> some ApplicationProtocol
{
    let maxBody = configuration.maxBodyBytes
    let gate = InferenceGate(limit: configuration.concurrency, maxQueue: configuration.maxQueue)
    let workers = InferenceThreads(count: gate.limit)
    let router = Router(context: AppContext.self)
    router.middlewares.add(MetricsMiddleware(metrics: metrics, gate: gate))
    router.middlewares.add(DrainMiddleware(drain: drain))

    router.get("/") { _, _ in
        Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: Page.html)))
    }
    router.get("/healthz") { _, _ in
        // While draining: 503, so that a load balancer's health check takes this process out of rotation.
        var r = try json(["status": drain.draining ? "draining" : "ok", "models": analyzer.detectors.count, "queue": await gate.queueDepth,
                          "inFlight": max(0, drain.inFlight - 1)] as [String: Any])
        if drain.draining { r.status = .serviceUnavailable }
        return r
    }
    router.get("/metrics") { _, _ in
        Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                 body: .init(byteBuffer: ByteBuffer(string: metrics.prometheus(queueDepth: await gate.queueDepth, inFlight: await gate.inFlight))))
    }
    router.get("/openapi.json") { _, _ in
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: OpenAPI.document)))
    }
    router.get("/api/v1/models") { _, _ in
        try json(["caveat": Reliability.caveat, "localiser": analyzer.localiser?.name ?? NSNull(), "models": analyzer.detectors.indices.map { i -> [String: Any] in
            let d = analyzer.detectors[i]
            var m: [String: Any] = ["name": analyzer.names[i], "label": d.label, "architecture": d.entry.name, "summary": d.entry.summary,
                                    "reference": d.entry.reference, "inputSize": d.preprocessing.inputSize, "placeholder": d.isPlaceholder,
                                    "calibrated": d.metadata["aidetect.calibration"] != nil, "description": d.metadata["aidetect.description"] ?? "",
                                    "note": d.metadata["aidetect.summary"] ?? "",
                                    "explain": analyzer.explanationMethods(model: i).map(\.rawValue)]
            if let why = d.selectionNote { m["selection"] = why }
            if let f = d.figures, let data = try? jsonEncoder.encode(f), let o = try? JSONSerialization.jsonObject(with: data) { m["figures"] = o }
            return m
        }] as [String: Any])
    }
    // A GET where only POST is served: say so (405 with Allow), not an empty 404.
    for path in ["/api/v1/analyze", "/api/v1/batch"] {
        router.get(RouterPath(path)) { _, _ -> Response in
            throw APIError(status: .methodNotAllowed, message: "\(path) takes POST with the image as the body (or multipart/form-data); see /openapi.json",
                           kind: "method_not_allowed", headers: [.allow: "POST"])
        }
    }
    router.post("/api/v1/analyze") { request, _ in
        do {
            let options = try AnalyzeOptions(request.uri.queryParameters)
            let (bytes, name) = try await uploadedFile(request, limit: maxBody)
            let report = try await withGate(gate, workers, timeout: configuration.requestTimeout) {
                try analyzer.analyze(bytes, name: name, models: options.models, explain: options.explain, localise: options.localise)
            }
            return try encoded(report)
        } catch { throw APIError.from(error) }
    }
    router.post("/api/v1/batch") { request, _ in
        // Several files (multipart), one JSON line per file as each finishes; a bad file gets an error line.
        let options: AnalyzeOptions
        let parts: [(name: String?, bytes: [UInt8])]
        do {
            options = try AnalyzeOptions(request.uri.queryParameters)
            var body = try await request.body.collect(upTo: maxBody)
            let type = request.headers[.contentType] ?? ""
            guard let boundary = Multipart.boundary(type) else {
                throw APIError(status: .unsupportedMediaType, message: "batch needs multipart/form-data", kind: "content_type")
            }
            parts = Multipart.parse(body.readBytes(length: body.readableBytes) ?? [], boundary: boundary).filter { $0.filename != nil || !$0.bytes.isEmpty }
                .map { ($0.filename, $0.bytes) }
            guard !parts.isEmpty else { throw APIError(status: .badRequest, message: "no files in the request", kind: "no_files") }
            guard parts.count <= configuration.maxBatchFiles else {
                throw APIError(status: .contentTooLarge, message: "at most \(configuration.maxBatchFiles) files per batch", kind: "too_many_files")
            }
        } catch { throw APIError.from(error) }
        let timeout = configuration.requestTimeout
        return Response(status: .ok, headers: [.contentType: "application/x-ndjson"], body: ResponseBody { writer in
            for (i, part) in parts.enumerated() {
                var line: [String: Any] = ["index": i, "file": part.name ?? "file\(i)"]
                do {
                    let report = try await withGate(gate, workers, timeout: timeout) {
                        try analyzer.analyze(part.bytes, name: part.name, models: options.models, explain: options.explain, localise: options.localise)
                    }
                    line["report"] = try JSONSerialization.jsonObject(with: jsonEncoder.encode(report))
                } catch {
                    let e = APIError.from(error)
                    line["error"] = ["message": e.message, "kind": e.kind, "status": Int(e.status.code)]
                }
                let data = (try? JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])) ?? Data("{}".utf8)
                try await writer.write(ByteBuffer(bytes: data + Data("\n".utf8)))
            }
            try await writer.finish(nil)
        })
    }
    if let store = configuration.review {
        addReviewRoutes(router, service: ReviewService(store: store, analyzer: analyzer, gate: gate, workers: workers, timeout: configuration.requestTimeout),
                        maxBody: maxBody)
    }
    return Application(router: router, server: .http1(configuration: .init(idleTimeout: .milliseconds(Int64(configuration.idleTimeout * 1000)))),
                       configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "aidetect"))
}

struct AnalyzeOptions {
    var models: [String] = []
    var explain: [ExplanationMethod] = []
    var localise = false
    init(_ q: Parameters) throws {
        if let l = (q["localise"] ?? q["localize"]).map(String.init) {
            guard let v = ["1": true, "true": true, "yes": true, "0": false, "false": false, "no": false][l.lowercased()] else {
                throw AnalyzerError.badOption("localise", value: l, expected: "true or false")
            }
            localise = v
        }
        models = q["models"].map { $0.split(separator: ",").map(String.init) } ?? []
        explain = try (q["explain"].map { $0.split(separator: ",").map(String.init) } ?? []).map {
            guard let m = ExplanationMethod(rawValue: $0) else { throw AnalyzerError.unknownMethod($0) }
            return m
        }
    }
}

/// The uploaded file: the first file part of a multipart body, or the raw body.
func uploadedFile(_ request: Request, limit: Int) async throws -> ([UInt8], String?) {
    var body = try await request.body.collect(upTo: limit)
    let bytes = body.readBytes(length: body.readableBytes) ?? []
    if let type = request.headers[.contentType], let boundary = Multipart.boundary(type) {
        let parts = Multipart.parse(bytes, boundary: boundary)
        guard let part = parts.first(where: { $0.filename != nil }) ?? parts.first else {
            throw APIError(status: .badRequest, message: "no file part in the multipart body", kind: "no_files")
        }
        return (part.bytes, part.filename)
    }
    guard !bytes.isEmpty else { throw APIError(status: .badRequest, message: "empty request body: send the image as the body or as multipart/form-data", kind: "empty") }
    return (bytes, request.uri.queryParameters["name"].map(String.init))
}

/// Waits for an inference slot (503 when the queue is full), runs `work` on one of the inference threads (never on
/// the event loops), and answers a timeout after `timeout` seconds of running; abandoned work keeps its slot until
/// it ends, so the concurrency bound holds.
func withGate<T: Sendable>(_ gate: InferenceGate, _ workers: InferenceThreads, timeout: Double,
                           _ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await gate.enter()
    return try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
        let once = ResumeOnce(c)
        workers.submit {
            let r = Result { try work() }
            Task { await gate.leave() }
            once.resume(r)
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { once.resume(.failure(TimeoutError())) }
    }
}

/// A fixed set of long-lived threads for inference, one per slot. LibTorch's OpenMP thread team belongs to the
/// thread that calls it, so handing each request to whichever Dispatch thread is free makes new teams over time
/// (latency and memory); the same few threads keep theirs. They live as long as the process (one set per server).
final class InferenceThreads: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []

    init(count: Int) {
        for i in 0..<max(1, count) {
            let t = Thread { [self] in loop() }
            t.name = "aidetect-inference-\(i)"
            t.stackSize = 8 << 20
            t.start()
        }
    }

    func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }
}

/// Resumes a continuation once; later results are dropped.
final class ResumeOnce<T: Sendable>: @unchecked Sendable {
    private var c: CheckedContinuation<T, any Error>?
    private let lock = NSLock()
    init(_ c: CheckedContinuation<T, any Error>) { self.c = c }
    func resume(_ r: Result<T, any Error>) {
        lock.lock()
        let k = c
        c = nil
        lock.unlock()
        k?.resume(with: r)
    }
}

let jsonEncoder: JSONEncoder = {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys]
    e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return e
}()

func encoded<T: Encodable>(_ value: T) throws -> Response {
    Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try jsonEncoder.encode(value))))
}

func json(_ object: [String: Any]) throws -> Response {
    Response(status: .ok, headers: [.contentType: "application/json"],
             body: .init(byteBuffer: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))))
}
