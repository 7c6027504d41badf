import Detection
import Foundation
import Hummingbird
import HummingbirdTesting
import Imaging
import Testing
import TestSupport

@testable import Server

/// The generated bad-input corpus (scripts/make_bad_corpus.py --small: ~900 files from the image fixtures: truncations, bit flips, wrong
/// extensions, empty files, giant dimensions, decompression bombs, polyglots, hostile metadata) through the scanner
/// and the API in-process. scripts/bad_input_corpus.sh runs the same corpus through the binaries.
@Suite(.serialized) struct BadInputCorpusTests {
    static let corpus: URL? = {
        guard let python = python3Path else { return nil }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("aidetect-bad-corpus-\(UUID().uuidString)")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [TestSupport.repositoryRoot.appendingPathComponent("scripts/make_bad_corpus.py").path, "--output", dir.path, "--small"]
        p.standardOutput = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        p.waitUntilExit()
        return p.terminationStatus == 0 ? dir : nil
    }()

    /// manifest rows: file -> category
    static func manifest(_ dir: URL) throws -> [(file: String, category: String)] {
        try String(contentsOf: dir.appendingPathComponent("manifest.csv"), encoding: .utf8).split(whereSeparator: \.isNewline).dropFirst().map {
            let f = $0.split(separator: ",", omittingEmptySubsequences: false)
            return (String(f[0]), String(f[1]))
        }
    }

    @Test(.enabled(if: python3Path != nil, "needs python3 to generate the corpus"))
    func everyFileGetsAScoreOrATypedErrorAndTheAPIAgrees() async throws {
        let dir = try #require(Self.corpus, "make_bad_corpus.py failed")
        defer { try? FileManager.default.removeItem(at: dir) }
        let rows = try Self.manifest(dir)
        #expect(rows.count >= 800)  // the fixtures' seeds only; the full corpus (samples too) has > 1,000
        var scanner = Scanner(decoder: ImageDecoder(), detector: try Detector.loadDefault(), includeAllFiles: true)
        var results: [String: ScanResult] = [:]
        scanner.walk(dir.path) { results[($0.path as NSString).lastPathComponent] = $0 }
        for (file, category) in rows {
            let r = try #require(results[file], "no scan row for \(file)")
            if let kind = r.errorKind {
                #expect(r.probability == nil && (r.error ?? "").contains(file), "\(file): \(kind) without the file's name")
                #expect(category != "control" && category != "wrong-extension", "\(file) (\(category)) failed: \(r.error ?? "")")
            } else {
                #expect(r.probability.map { (0...1).contains($0) } == true, "\(file): neither a score nor an error")
            }
        }
        #expect(rows.filter { $0.category == "empty" }.allSatisfy { results[$0.file]?.errorKind == "empty" })
        #expect(rows.filter { $0.category == "not-an-image" }.allSatisfy { results[$0.file]?.errorKind == "unsupported_format" })
        #expect(rows.filter { $0.file.hasPrefix("bomb--png-pixels") }.allSatisfy { results[$0.file]?.errorKind == "dimensions_too_large" })

        // The API gives the same typed error for every file the scan refused (status by kind), and scores the rest.
        let status: [String: HTTPResponse.Status] = ["empty": .badRequest, "unsupported_format": .unsupportedMediaType,
                                                     "truncated": .unprocessableContent, "corrupt": .unprocessableContent,
                                                     "dimensions_too_large": .contentTooLarge]
        var c = ServerConfiguration()
        c.port = 0
        let app = buildApplication(analyzer: try #require(sharedAnalyzer), configuration: c)
        let kinds = results.mapValues(\.errorKind)
        let refused = rows.filter { results[$0.file]?.errorKind != nil }
        let scored = rows.filter { results[$0.file]?.errorKind == nil }.enumerated().filter { $0.offset % 20 == 0 }.map(\.element)
        try await app.test(.router) { client in
            for (file, _) in refused + scored {
                let bytes = try Data(contentsOf: dir.appendingPathComponent(file))
                try await client.execute(uri: "/api/v1/analyze?name=\(file)", method: .post, body: ByteBuffer(bytes: bytes)) { r in
                    if let kind = kinds[file] ?? nil {
                        #expect(r.status == status[kind], "\(file): \(r.status) for \(kind)")
                        #expect((jsonObject(r.body)["error"] as? [String: Any])?["kind"] as? String == kind, "\(file)")
                    } else {
                        #expect(r.status == .ok, "\(file): \(r.status)")
                    }
                }
            }
            // A batch of refused files around a control: the control still gets its report.
            let control = try #require(rows.first { $0.category == "control" && $0.file.hasSuffix(".png") })
            let group = Array(refused.prefix(6)) + [control] + Array(refused.suffix(6))
            let body = multipart(try group.map { ($0.file, Array(try Data(contentsOf: dir.appendingPathComponent($0.file)))) })
            try await client.execute(uri: "/api/v1/batch", method: .post, headers: [.contentType: "multipart/form-data; boundary=XyZ123"], body: body) { r in
                #expect(r.status == .ok)
                let lines = String(buffer: r.body).split(separator: "\n").compactMap {
                    try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
                }
                #expect(lines.count == group.count)
                #expect(lines.filter { $0["report"] != nil }.count == 1)
                #expect(lines.first { $0["file"] as? String == control.file }?["report"] != nil)
            }
        }
    }
}
