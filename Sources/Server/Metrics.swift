import Foundation
import Hummingbird

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

/// A minimal multipart/form-data reader (RFC 7578): parts with their filename and bytes.
enum Multipart {
    struct Part {
        var name: String?
        var filename: String?
        var contentType: String?
        var bytes: [UInt8]
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

    static func parse(_ body: [UInt8], boundary: String) -> [Part] {
        let delimiter = Array(("--" + boundary).utf8)
        var starts: [Int] = []
        var i = 0
        while let j = find(delimiter, in: body, from: i) { starts.append(j); i = j + delimiter.count }
        var parts: [Part] = []
        for (k, s) in starts.enumerated() where k + 1 < starts.count {
            var a = s + delimiter.count
            if a + 1 < body.count, body[a] == 0x0D, body[a + 1] == 0x0A { a += 2 } else { continue }
            var end = starts[k + 1]
            if end >= 2, body[end - 2] == 0x0D, body[end - 1] == 0x0A { end -= 2 }
            guard a <= end, let headerEnd = find([0x0D, 0x0A, 0x0D, 0x0A], in: Array(body[a..<end]), from: 0) else { continue }
            let header = String(decoding: body[a..<(a + headerEnd)], as: UTF8.self)
            var part = Part(name: nil, filename: nil, contentType: nil, bytes: Array(body[(a + headerEnd + 4)..<end]))
            for line in header.split(separator: "\r\n") {
                let l = line.lowercased()
                if l.hasPrefix("content-disposition:") {
                    part.name = value(of: "name", in: String(line))
                    part.filename = value(of: "filename", in: String(line))
                } else if l.hasPrefix("content-type:") {
                    part.contentType = line.dropFirst("content-type:".count).trimmingCharacters(in: .whitespaces)
                }
            }
            parts.append(part)
        }
        return parts
    }

    static func value(of key: String, in line: String) -> String? {
        for p in line.split(separator: ";") {
            let kv = p.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if kv.count == 2, kv[0] == key { return kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
        }
        return nil
    }

    static func find(_ needle: [UInt8], in hay: [UInt8], from: Int) -> Int? {
        guard !needle.isEmpty, hay.count >= needle.count else { return nil }
        var i = from
        let last = hay.count - needle.count
        while i <= last {
            if hay[i] == needle[0] {
                var ok = true
                for k in 1..<needle.count where hay[i + k] != needle[k] { ok = false; break }
                if ok { return i }
            }
            i += 1
        }
        return nil
    }
}
