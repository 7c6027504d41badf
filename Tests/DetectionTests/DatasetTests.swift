import Foundation
import Testing
import TestSupport
@testable import Detection
import Imaging

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
        #expect(a.train.counts() == ["real/cam": 28, "fake/gan": 17, "fake/diff": 11])   // 17.5 of gan, 10.5 of diff: one rounds down, one up
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

    /// A relative, a `./`-prefixed and an absolute spelling of one folder give the same ids and the same test split
    /// (what `eval --split test` scores), and a manifest written from it splits the same way.
    @Test func idsAndSplitsDoNotDependOnPathSpelling() throws {
        let root = try Self.makeTree()
        defer { try? FileManager.default.removeItem(at: root) }
        let cwd = FileManager.default.currentDirectoryPath
        let depth = cwd.split(separator: "/").count
        let relative = String(repeating: "../", count: depth) + String(root.path.drop { $0 == "/" })
        let spellings = [root.path, relative, "./" + relative, root.path + "/"]
        let tests = try spellings.map { try Dataset.load($0).standardSplit(seed: 0).test.samples.map(\.id) }
        #expect(!tests[0].isEmpty)
        for t in tests.dropFirst() { #expect(t == tests[0]) }
        #expect(tests[0].allSatisfy { $0.hasPrefix(root.lastPathComponent + ":") })
        let csv = root.appendingPathComponent("set.csv").path
        try Dataset.load(relative).writeManifest(to: csv)
        #expect(try Dataset.load(csv).standardSplit(seed: 0).test.samples.map(\.id) == tests[0])
    }

    /// Samples of one group always share a part; a pinned sample takes its group along; strata stay near the
    /// fractions; the split of a subset (generators left out) keeps every kept sample's part when the subset is
    /// cut from the whole set first, as `Trainer` does.
    @Test func groupsNeverStraddleSplits() {
        var samples: [Sample] = []
        for i in 0..<300 {
            let fake = i % 3 != 0
            var s = Sample(source: .file("/x/\(fake ? "fake" : "real")/g\(i % 4)/\(i).png"), label: fake ? .fake : .real, generator: fake ? "g\(i % 4)" : "cam")
            if fake { s.group = "prompt-\(i % 23)" }   // each prompt rendered by several generators
            samples.append(s)
        }
        samples[7].pinnedSplit = .test
        let d = Dataset(samples: samples)
        let (tr, va, te) = d.standardSplit(seed: 0)
        #expect(tr.samples.count + va.samples.count + te.samples.count == 300)
        var partOf: [String: Int] = [:]
        for (p, part) in [tr, va, te].enumerated() {
            for s in part.samples {
                #expect(partOf[s.splitKey, default: p] == p, "group \(s.splitKey) straddles")
                partOf[s.splitKey] = p
            }
        }
        #expect(te.samples.contains { $0.id == samples[7].id })
        #expect(te.samples.filter { $0.group == samples[7].group }.count == samples.filter { $0.group == samples[7].group }.count)
        let reals = tr.samples.filter { $0.label == .real }.count
        #expect(abs(reals - 70) <= 2, "reals in train: \(reals) of 100")
        let fakesTrain = tr.samples.filter { $0.label == .fake }.count
        #expect(abs(Double(fakesTrain) / 200 - 0.7) < 0.12, "grouped fakes in train: \(fakesTrain) of 200")
    }

    /// Manifests carry ids, groups and pinned splits; a bad split value is a clear error naming the line.
    @Test func manifestsKeepIdsGroupsAndPins() throws {
        let root = try Self.makeTree()
        defer { try? FileManager.default.removeItem(at: root) }
        var d = try Dataset.load(root.path)
        d.samples[0].group = "g1"; d.samples[1].group = "g1"
        let csv = root.appendingPathComponent("pinned.csv").path
        try d.writeManifest(to: csv, pinning: [d.samples[0].id: .validation])
        let back = try Dataset.load(csv)
        #expect(back.samples.map(\.id) == d.samples.map(\.id))
        #expect(back.samples[1].group != nil && back.samples[1].group == back.samples[0].group && back.samples[0].pinnedSplit == .validation)
        #expect(back.samples[2].group == nil, "a lone image is no group")
        #expect(Dataset.csvFields(Dataset.csvField("a \"quoted\", b") + ",x") == ["a \"quoted\", b", "x"])
        let v = back.standardSplit(seed: 0).validation.samples.map(\.id)
        #expect(v.contains(d.samples[0].id) && v.contains(d.samples[1].id))
        let bad = root.appendingPathComponent("bad.csv")
        try "path,label,generator,split\nreal/cam/sub/img0.png,real,cam,holdout\n".write(to: bad, atomically: true, encoding: .utf8)
        #expect(throws: DatasetError.badLayout(path: bad.path, reason: "line 2: split must be train, validation or test, not 'holdout'")) { try Dataset.load(bad.path) }
    }

    /// Near-duplicates (a re-encoded, resized copy) share a group; distinct images do not.
    @Test func nearDuplicatesShareAGroup() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("nd-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let dir = root.appendingPathComponent("real/cam")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var rng = SplitMix64(seed: 5)
        func picture() -> Image {
            var px = [UInt8](repeating: 0, count: 96 * 96 * 3)
            let (fx, fy, ph) = (rng.uniform(1, 6), rng.uniform(1, 6), rng.uniform(0, 6))
            for y in 0..<96 { for x in 0..<96 { for c in 0..<3 {
                px[(y * 96 + x) * 3 + c] = UInt8(128 + 100 * sin(Double(x) * fx / 30 + ph) * cos(Double(y) * fy / 30 + Double(c)))
            } } }
            return Image(width: 96, height: 96, pixels: px)
        }
        let a = picture()
        try Data(ImageEncoder.png(a)).write(to: dir.appendingPathComponent("a.png"))
        try Data(ImageEncoder.jpeg(a.resized(width: 64, height: 64), quality: 70)).write(to: dir.appendingPathComponent("a-copy.jpg"))
        for i in 0..<4 { try Data(ImageEncoder.png(picture())).write(to: dir.appendingPathComponent("other\(i).png")) }
        let d = try Dataset.load(root.path)
        let group = { (name: String) in d.samples.first { $0.id.hasSuffix(name) }?.group }
        #expect(group("a.png") != nil && group("a.png") == group("a-copy.jpg"))
        #expect((0..<4).allSatisfy { group("other\($0).png") == nil })
    }

    /// bench256 (with wild-train beside it): no group (prompt, original file, near-duplicate) sits in two parts of
    /// the standard split, prompt ids included, and the FFHQ faces both sets hold are grouped across the sets.
    @Test(.enabled(if: TestSupport.hasSharedData, "needs ../shared/data (set AIDETECT_DATA): bench256.tar and wild-train.tar"))
    func bench256GroupsNeverStraddle() throws {
        let data = try #require(TestSupport.sharedData)
        let both = try Dataset.load(data.appendingPathComponent("bench256.tar").path + "," + data.appendingPathComponent("wild-train.tar").path)
        let (tr, va, te) = both.standardSplit(seed: 0)
        var partOf: [String: Int] = [:], promptPart: [String: Int] = [:]
        for (p, part) in [tr, va, te].enumerated() {
            for s in part.samples {
                #expect(partOf[s.splitKey, default: p] == p, "group \(s.splitKey) straddles")
                partOf[s.splitKey] = p
                if let prompt = Dataset.promptKey(s) {
                    #expect(promptPart[prompt, default: p] == p, "prompt \(prompt) straddles")
                    promptPart[prompt] = p
                }
            }
        }
        #expect(promptPart.count == 41, "bench256 renders 41 prompts")
        let wildFaces = both.samples.filter { $0.id.hasPrefix("wild-train.tar:real/ffhq/") }
        #expect(wildFaces.count == 20)
        for f in wildFaces {
            let copies = both.samples.filter { $0.group == f.group && $0.id.hasPrefix("bench256.tar:") }
            #expect(f.group != nil && !copies.isEmpty, "\(f.id) is not grouped with its bench256 copy")
        }
        // Every generator keeps test images, and the strata stay near 70/15/15.
        for g in both.generators {
            let n = both.samples.filter { $0.generator == g }.count, t = te.samples.filter { $0.generator == g }.count
            if n >= 40 { #expect(t > 0, "\(g): no test image") }
        }
        #expect(abs(Double(tr.samples.count) / Double(both.samples.count) - 0.7) < 0.03)
    }
}
