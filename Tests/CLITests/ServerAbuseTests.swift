import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif
import Testing
import TestSupport

/// `aidetect serve` under abusive clients (issue 15): 100 slow-header clients (slowloris), 100 half-finished
/// uploads and an oversized header block, all at once. Other clients are served, /healthz answers, the server's
/// memory stays bounded, and the idle timeout closes the stalled connections.
struct ServerAbuseTests {
    /// A TCP connection to 127.0.0.1:port (blocking, with a receive timeout), or -1.
    static func connectTo(_ port: Int) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return -1 }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 } }
        guard ok else { close(fd); return -1 }
        var tv = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }
    static func send(_ fd: Int32, _ s: [UInt8]) { _ = s.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
    /// Whether the server has closed `fd` (a read returns 0 or an error other than a timeout).
    static func closedByServer(_ fd: Int32) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n == 0 { return true }
            if n < 0 { return errno != EAGAIN && errno != EWOULDBLOCK }
        }
    }
    static func rssMB(_ pid: Int32) -> Double {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return (Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
    }
    static func get(_ port: Int, _ path: String) async throws -> (Int, Double) {
        let start = Date()
        var r = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        r.timeoutInterval = 60
        let (_, response) = try await URLSession.shared.data(for: r)
        return ((response as! HTTPURLResponse).statusCode, Date().timeIntervalSince(start))
    }

    @Test(.timeLimit(.minutes(3))) func slowAndAbandonedClientsDoNotStarveOthers() async throws {
        let (p, port) = try await startServer(["--models", "bundled", "--idle-timeout", "4", "--drain-seconds", "0"])
        defer { if p.isRunning { p.terminate() } }
        let before = Self.rssMB(p.processIdentifier)

        // 100 clients that never finish their headers, 100 that promise 5 MB and stop after 64 KB, one 200 KB header.
        var slow: [Int32] = [], stalled: [Int32] = []
        for _ in 0..<100 {
            let fd = Self.connectTo(port)
            try #require(fd >= 0)
            Self.send(fd, Array("POST /api/v1/analyze HTTP/1.1\r\nHost: x\r\nX-Slow: ".utf8))
            slow.append(fd)
        }
        let chunk = [UInt8](repeating: 0xFF, count: 64 << 10)
        for _ in 0..<100 {
            let fd = Self.connectTo(port)
            try #require(fd >= 0)
            Self.send(fd, Array("POST /api/v1/analyze HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 5000000\r\n\r\n".utf8) + chunk)
            stalled.append(fd)
        }
        let huge = Self.connectTo(port)
        try #require(huge >= 0)
        Self.send(huge, Array("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 200_000))\r\n\r\n".utf8))
        defer { for fd in slow + stalled + [huge] { close(fd) } }

        // Meanwhile: health answers promptly and a real analysis succeeds.
        let (health, seconds) = try await Self.get(port, "/healthz")
        #expect(health == 200 && seconds < 2, "/healthz: \(health) after \(seconds) s")
        var r = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/api/v1/analyze")!)
        r.httpMethod = "POST"
        r.timeoutInterval = 60
        let image = try Data(contentsOf: TestSupport.repositoryRoot.appendingPathComponent("samples/real-IMG_0003.jpg"))
        let (_, response) = try await URLSession.shared.upload(for: r, from: image)
        #expect((response as! HTTPURLResponse).statusCode == 200, "an honest client is served")
        let during = Self.rssMB(p.processIdentifier)
        #expect(during - before < 400, "memory bounded: \(before) MB before, \(during) MB with 201 abusive connections")

        // The oversized header block is refused (an error status or a closed connection), not buffered.
        #expect(Self.closedByServer(huge), "a 200 KB header block is refused")
        // After the idle timeout (4 s) the slow and stalled connections are closed by the server.
        try await Task.sleep(for: .seconds(6))
        let closedSlow = slow.filter { Self.closedByServer($0) }.count, closedStalled = stalled.filter { Self.closedByServer($0) }.count
        #expect(closedSlow == slow.count && closedStalled == stalled.count, "closed: \(closedSlow) slow, \(closedStalled) stalled")
        #expect(p.isRunning, "the server is still up")
        #expect(try await Self.get(port, "/healthz").0 == 200)
    }
}
