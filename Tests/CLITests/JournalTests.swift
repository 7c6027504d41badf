import Foundation
import Imaging
import Testing
import TestSupport
@testable import Detection

/// Resumable, shardable scans (issue 14): a scan killed with SIGKILL at random points and resumed each time reports
/// exactly what an uninterrupted scan reports, every file once; two shards merged equal one unsharded scan;
/// identical files are scored once.
@Suite struct JournalTests {
    /// 2,000 small images: 1,880 distinct, 100 byte-identical copies under other names, 20 broken files.
    func makeTree(_ dir: URL) throws -> Int {
        var rng = SplitMix64(seed: 7)
        for i in 0..<1_880 {
            let sub = dir.appendingPathComponent("d\(i % 7)")
            try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
            var px = [UInt8](repeating: 0, count: 24 * 24 * 3)
            let (a, b) = (Double(rng.next() % 200), Double(rng.next() % 7 + 1))
            for k in 0..<(24 * 24) { let v = UInt8((a + Double(k % 24) * b + Double(k / 24) * 2).truncatingRemainder(dividingBy: 256)); px[3 * k] = v; px[3 * k + 1] = v &+ 40; px[3 * k + 2] = 255 - v }
            px[0] = UInt8(i % 256); px[1] = UInt8(i / 256)  // every image distinct
            try Data(ImageEncoder.png(Image(width: 24, height: 24, pixels: px))).write(to: sub.appendingPathComponent("img\(i).png"))
        }
        for i in 0..<100 {
            try FileManager.default.copyItem(at: dir.appendingPathComponent("d\(i % 7)/img\(i).png"), to: dir.appendingPathComponent("d\(i % 7)/copy\(i).png"))
        }
        for i in 0..<20 { try Data("not an image \(i)".utf8).write(to: dir.appendingPathComponent("d\(i % 7)/broken\(i).png")) }
        return 2_000
    }

    /// The report's file records without their timing (scoring time differs between runs).
    func records(_ out: String) -> [String] {
        out.split(separator: "\n").compactMap { line -> String? in
            guard var o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], o["path"] != nil else { return nil }
            o["milliseconds"] = nil
            return (try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) }
        }
    }

    /// Runs a scan and kills it with SIGKILL once it has printed `killAfter` rows (nil: lets it finish).
    func scan(_ args: [String], killAfter: Int?) throws -> Int32 {
        let exe = TestSupport.aidetectExecutable
        let p = Process()
        p.executableURL = exe
        p.arguments = ["scan"] + args
        p.currentDirectoryURL = TestSupport.repositoryRoot
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        let lines = LockedBox(0)
        out.fileHandleForReading.readabilityHandler = { h in
            let n = h.availableData.reduce(0) { $0 + ($1 == 10 ? 1 : 0) }
            let total = lines.withLock { $0 += n; return $0 }
            if let k = killAfter, total >= k, p.isRunning { kill(p.processIdentifier, SIGKILL) }
        }
        try p.run()
        p.waitUntilExit()
        out.fileHandleForReading.readabilityHandler = nil
        return p.terminationStatus
    }

    @Test func killedAndResumedScansReportLikeOneScan() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("journal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let tree = dir.appendingPathComponent("tree")
        let files = try makeTree(tree)
        let model = dir.appendingPathComponent("lenet.safetensors").path
        #expect(try runCLI(["init-model", "lenet_baseline", "--output", model, "--placeholder"]).status == 0)
        let common = [tree.path, "--model", model, "--json", "--quiet"]

        // One uninterrupted scan: every file once, the 100 copies reused.
        let whole = dir.appendingPathComponent("whole.journal").path
        let plain = try runCLI(["scan"] + common + ["--journal", whole])
        #expect(plain.stderr.isEmpty || !plain.stderr.contains("error"), "\(plain.stderr)")
        let reference = records(try runCLI(["report", whole, "--json"]).stdout)
        #expect(reference.count == files && Set(reference).count == files)
        let direct = records(try runCLI(["scan"] + common).stdout)
        #expect(direct == reference, "the journal's report is the plain scan's output")
        let info = try runCLI(["scan"] + [tree.path, "--model", model, "--json", "--journal", dir.appendingPathComponent("info.journal").path])
        #expect(info.stderr.contains("reused 100 result(s) of identical files"), "\(info.stderr)")

        // Killed with SIGKILL at 5 random points, resumed each time.
        let killed = dir.appendingPathComponent("killed.journal").path
        var rng = SplitMix64(seed: 11)
        var printed = 0
        var kills = 0
        for round in 0..<5 {
            printed += 150 + Int(rng.next() % 200)
            let status = try scan(common + ["--journal", killed] + (round == 0 ? [] : ["--resume"]), killAfter: printed)
            if status == 9 || status == SIGKILL { kills += 1 }
        }
        #expect(kills >= 4, "the scans were killed mid-way (\(kills) of 5)")
        _ = try scan(common + ["--journal", killed, "--resume"], killAfter: nil)
        let resumed = try runCLI(["report", killed, "--json"])
        #expect(records(resumed.stdout) == reference, "a killed and resumed scan reports exactly the uninterrupted scan")
        // Resuming a finished scan scores nothing and prints the whole scan.
        let again = try runCLI(["scan", tree.path, "--model", model, "--json", "--journal", killed, "--resume"])
        #expect(records(again.stdout) == reference)
        #expect(again.stderr.contains("this run took \(files) from the journal, reused 0"), "\(again.stderr)")

        // Two shards merged equal the unsharded scan; each file in exactly one shard.
        let s1 = dir.appendingPathComponent("s1.journal").path, s2 = dir.appendingPathComponent("s2.journal").path
        let a = try runCLI(["scan"] + common + ["--shard", "1/2", "--journal", s1])
        let b = try runCLI(["scan"] + common + ["--shard", "2/2", "--journal", s2])
        let ra = records(a.stdout), rb = records(b.stdout)
        #expect(ra.count + rb.count == files && !ra.isEmpty && !rb.isEmpty && Set(ra).isDisjoint(with: Set(rb)))
        #expect(records(try runCLI(["report", s1, s2, "--json"]).stdout) == reference)
        let csv = try runCLI(["report", s1, s2, "--csv"])
        #expect(csv.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }.count == files + 1)
        #expect(try runCLI(["report", s1, s2, "--html"]).stdout.contains("<table>"))

        // A journal is not silently mixed: without --resume, with other models or another shard it is refused.
        #expect(try runCLI(["scan"] + common + ["--journal", whole]).stderr.contains("add --resume"))
        #expect(try runCLI(["scan"] + common + ["--journal", s1, "--resume", "--shard", "2/2"]).stderr.contains("holds shard 1/2"))
        #expect(try runCLI(["scan", tree.path, "--model", "bundled", "--json", "--journal", whole, "--resume"]).stderr.contains("was written with the models"))
    }
}
