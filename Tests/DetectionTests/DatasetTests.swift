import Foundation
import Testing
import TestSupport
@testable import Detection

struct DatasetTests {
    /// A synthetic layout: real/cam (40), fake/gan (25), fake/diff (15); files are tiny PNG-named stubs.
    static func makeTree() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ds-\(UUID().uuidString)")
        for (label, gen, n) in [("real", "cam", 40), ("fake", "gan", 25), ("fake", "diff", 15)] {
            let d = root.appendingPathComponent("\(label)/\(gen)/sub")
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            for i in 0..<n { try Data([UInt8(i)]).write(to: d.appendingPathComponent("img\(i).png")) }
        }
        try Data("x".utf8).write(to: root.appendingPathComponent("real/cam/notes.txt"))
        return root
    }

    @Test func loadsFoldersTarsAndManifests() throws {
        let root = try Self.makeTree()
        defer { try? FileManager.default.removeItem(at: root) }
        let folder = try Dataset.load(root.path)
        #expect(folder.samples.count == 80)
        #expect(folder.counts() == ["real/cam": 40, "fake/gan": 25, "fake/diff": 15])
        let tar = root.appendingPathComponent("set.tar").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/tar")
        p.arguments = ["-cf", tar, "-C", root.path, "real", "fake"]
        try p.run()
        p.waitUntilExit()
        let fromTar = try Dataset.load(tar)
        #expect(fromTar.samples.count == 80)
        let one = try #require(fromTar.samples.first { $0.generator == "gan" })
        #expect(try SampleReader().bytes(one).count == 1)
        let csv = root.appendingPathComponent("m.csv")
        try "path,label,generator\nreal/cam/sub/img0.png,real,cam\n\"fake/gan/sub/img1.png\",fake,gan\n".write(to: csv, atomically: true, encoding: .utf8)
        let manifest = try Dataset.load(csv.path)
        #expect(manifest.samples.map(\.label) == [.real, .fake])
        #expect(try SampleReader().bytes(manifest.samples[1]) == [1])
        #expect(throws: DatasetError.self) { try Dataset.load(root.appendingPathComponent("real/cam/sub").path) }
    }

    @Test func splitsAreDeterministicStratifiedAndLeakFree() throws {
        let root = try Self.makeTree()
        defer { try? FileManager.default.removeItem(at: root) }
        let d = try Dataset.load(root.path)
        let a = d.split(train: 0.7, validation: 0.15, seed: 3), b = d.split(train: 0.7, validation: 0.15, seed: 3)
        #expect(a.train.samples == b.train.samples && a.validation.samples == b.validation.samples && a.test.samples == b.test.samples)
        let ids = [a.train, a.validation, a.test].map { Set($0.samples.map(\.id)) }
        #expect(ids[0].isDisjoint(with: ids[1]) && ids[0].isDisjoint(with: ids[2]) && ids[1].isDisjoint(with: ids[2]))
        #expect(ids.map(\.count).reduce(0, +) == 80)
        // stratified: each (label, generator) group is cut by the same fractions
        #expect(a.train.counts() == ["real/cam": 28, "fake/gan": 18, "fake/diff": 11])
        let c = d.split(train: 0.7, validation: 0.15, seed: 4)
        #expect(c.train.samples != a.train.samples, "another seed gives another split")
    }

    @Test func balancingCapsAndLeaveOut() throws {
        let root = try Self.makeTree()
        defer { try? FileManager.default.removeItem(at: root) }
        let d = try Dataset.load(root.path)
        let bal = d.balanced(seed: 1)
        #expect(bal.samples.filter { $0.label == .real }.count == 40 && bal.samples.filter { $0.label == .fake }.count == 40)
        let w = d.classWeights()
        let realTotal = zip(d.samples, w).filter { $0.0.label == .real }.map(\.1).reduce(0, +)
        let fakeTotal = zip(d.samples, w).filter { $0.0.label == .fake }.map(\.1).reduce(0, +)
        #expect(abs(realTotal - fakeTotal) < 1e-9)
        #expect(d.capped(perGenerator: 10).counts() == ["real/cam": 10, "fake/gan": 10, "fake/diff": 10])
        #expect(d.excluding(generators: ["gan"]).generators == ["cam", "diff"])
        #expect(d.only(generators: ["diff"]).samples.count == 15)
    }
}
