import Foundation
import Hummingbird
import MultipartKit

/// Request counters and latency histograms in the Prometheus text format (no external registry).
public final class ServerMetrics: @unchecked Sendable {
    private let lock = NSLock()
    private var requests: [String: Int] = [:]  // "route|status" -> count
    private var buckets: [String: [Int]] = [:]  // route -> cumulative counts per bound
    private var sums: [String: Double] = [:]
    private var counts: [String: Int] = [:]
    static let bounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

    public init() {}

    public func record(route: String, status: Int, seconds: Double) {
        lock.lock(); defer { lock.unlock() }
        requests["\(route)|\(status)", default: 0] += 1
        var b = buckets[route] ?? [Int](repeating: 0, count: Self.bounds.count)
        for (i, bound) in Self.bounds.enumerated() where seconds <= bound { b[i] += 1 }
        buckets[route] = b
        sums[route, default: 0] += seconds
        counts[route, default: 0] += 1
    }

    public func prometheus(queueDepth: Int, inFlight: Int) -> String {
        lock.lock(); defer { lock.unlock() }
        var s = "# HELP aidetect_requests_total HTTP requests by route and status.\n# TYPE aidetect_requests_total counter\n"
        for (k, v) in requests.sorted(by: { $0.key < $1.key }) {
            let p = k.split(separator: "|")
            s += "aidetect_requests_total{route=\"\(p[0])\",status=\"\(p[1])\"} \(v)\n"
        }
        s += "# HELP aidetect_request_seconds Request latency.\n# TYPE aidetect_request_seconds histogram\n"
        for (route, b) in buckets.sorted(by: { $0.key < $1.key }) {
            for (i, bound) in Self.bounds.enumerated() { s += "aidetect_request_seconds_bucket{route=\"\(route)\",le=\"\(bound)\"} \(b[i])\n" }
            s += "aidetect_request_seconds_bucket{route=\"\(route)\",le=\"+Inf\"} \(counts[route] ?? 0)\n"
            s += "aidetect_request_seconds_sum{route=\"\(route)\"} \(sums[route] ?? 0)\naidetect_request_seconds_count{route=\"\(route)\"} \(counts[route] ?? 0)\n"
        }
        s += "# HELP aidetect_queue_depth Requests waiting for an inference slot.\n# TYPE aidetect_queue_depth gauge\naidetect_queue_depth \(queueDepth)\n"
        s += "# HELP aidetect_inference_in_flight Requests running inference.\n# TYPE aidetect_inference_in_flight gauge\naidetect_inference_in_flight \(inFlight)\n"
        return s
    }
}

/// Records every request's route, status and latency. Uploaded bytes are never logged.
struct MetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics
    let gate: InferenceGate
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let route = Routes.all.contains { $0.path == request.uri.path } ? request.uri.path : "other"
        do {
            let r = try await next(request, context)
            metrics.record(route: route, status: Int(r.status.code), seconds: seconds(since: start))
            return r
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            metrics.record(route: route, status: Int(status), seconds: seconds(since: start))
            throw error
        }
    }
    func seconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

/// multipart/form-data bodies (RFC 7578): parts with their filename and bytes, parsed by vapor/multipart-kit's
/// `MultipartParser` (a maintained parser instead of our own, which issue 15 asked to fuzz or replace).
enum Multipart {
    struct Part {
        var name: String?
        var filename: String?
        var contentType: String?
        var bytes: [UInt8] = []
    }

    static func boundary(_ contentType: String) -> String? {
        guard contentType.lowercased().hasPrefix("multipart/") else { return nil }
        for p in contentType.split(separator: ";") {
            let kv = p.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if kv.count == 2, kv[0].lowercased() == "boundary" {
                let b = kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                return b.isEmpty || b.count > 200 ? nil : b
            }
        }
        return nil
    }

    /// The complete parts of `body`; a malformed body yields the parts completed before the fault.
    static func parse(_ body: [UInt8], boundary: String) -> [Part] {
        guard !boundary.isEmpty, headerNamesAreASCII(body, boundary: boundary) else { return [] }
        let parser = MultipartParser(boundary: boundary)
        final class Collector { var parts: [Part] = []; var current = Part() }
        let c = Collector()
        parser.onHeader = { name, value in
            switch name.lowercased() {
            case "content-disposition":
                c.current.name = Self.value(of: "name", in: value)
                c.current.filename = Self.value(of: "filename", in: value)
            case "content-type":
                c.current.contentType = value.trimmingCharacters(in: .whitespaces)
            default: break
            }
        }
        parser.onBody = { buffer in c.current.bytes += buffer.readBytes(length: buffer.readableBytes) ?? [] }
        parser.onPartComplete = { c.parts.append(c.current); c.current = Part() }
        try? parser.execute(body)
        return c.parts
    }

    /// multipart-kit 4.7 looks header-name bytes up in a 128-entry table and traps on a byte of 0x80 or more, so
    /// a body whose header lines (after any "--boundary" CRLF, up to the blank line; the name is what precedes the
    /// colon) hold such a byte is refused before it reaches the parser.
    static func headerNamesAreASCII(_ body: [UInt8], boundary: String) -> Bool {
        let delimiter = Array(("--" + boundary).utf8)
        guard body.count >= delimiter.count else { return true }
        var i = 0
        while i <= body.count - delimiter.count {
            guard body[i] == delimiter[0], body[i..<(i + delimiter.count)].elementsEqual(delimiter) else { i += 1; continue }
            var j = i + delimiter.count
            i = j
            guard j + 1 < body.count, body[j] == 0x0D, body[j + 1] == 0x0A else { continue }
            j += 2
            // Header lines until an empty one (or the end).
            while j < body.count, body[j] != 0x0D {
                var inName = true
                while j < body.count, body[j] != 0x0D {
                    if body[j] == UInt8(ascii: ":") { inName = false }
                    if inName && body[j] >= 0x80 { return false }
                    j += 1
                }
                j += 2   // CR LF
            }
        }
        return true
    }

    static func value(of key: String, in line: String) -> String? {
        for p in line.split(separator: ";") {
            let kv = p.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if kv.count == 2, kv[0] == key { return kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
        }
        return nil
    }
}
