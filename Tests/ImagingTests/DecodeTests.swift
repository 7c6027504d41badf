import Foundation
import Testing
import TestSupport
@testable import Imaging
import ImagingTorch
import Torch

struct DecodeTests {
    struct Expected: Decodable {
        let width: Int, height: Int
        let mean: [Double]?
        let lossy: Bool?
        let icc: Bool?
    }
    static let expected: [String: Expected] = {
        let url = URL(fileURLWithPath: TestSupport.fixture("ImagingTests", "expected.json"))
        guard let data = try? Data(contentsOf: url), let e = try? JSONDecoder().decode([String: Expected].self, from: data) else {
            preconditionFailure("missing Tests/ImagingTests/Fixtures/expected.json: run scripts/make_image_fixtures.py")
        }
        return e
    }()

    static func meanColour(_ im: Image) -> [Double] {
        var s = [0.0, 0.0, 0.0]
        for i in 0..<(im.width * im.height) { for c in 0..<3 { s[c] += Double(im.pixels[i * 3 + c]) } }
        return s.map { $0 / Double(im.width * im.height) }
    }

    @Test("decodes every format like PIL", arguments: DecodeTests.expected.keys.sorted())
    func decodes(_ name: String) throws {
        let e = try #require(Self.expected[name])
        let d = try ImageDecoder().decode(path: TestSupport.fixture("ImagingTests", name))
        #expect(d.image.width == e.width && d.image.height == e.height, "\(name): \(d.image.width)x\(d.image.height)")
        if let m = e.mean {
            let got = Self.meanColour(d.image)
            let tol = e.lossy == true ? 6.0 : 1.0
            for c in 0..<3 { #expect(abs(got[c] - m[c]) <= tol, "\(name) channel \(c): \(got[c]) vs PIL \(m[c])") }
        }
        if e.icc == true, case .convertedToSRGB = d.colorProfile {} else if e.icc == true {
            Issue.record("\(name): embedded profile not applied (\(d.colorProfile))")
        }
    }

    @Test func formatsAndFramesAreReported() throws {
        let dec = ImageDecoder()
        let cases: [(String, ImageFormat, Int)] = [
            ("anim.gif", .gif, 2), ("anim.webp", .webp, 2), ("multipage.tiff", .tiff, 2), ("small.heic", .heif, 1),
            ("small.avif", .avif, 1), ("rgb.bmp", .bmp, 1), ("gray16.png", .png, 1),
        ]
        for (file, format, frames) in cases {
            let d = try dec.decode(path: TestSupport.fixture("ImagingTests", file))
            #expect(d.format == format, "\(file)")
            #expect(d.frames == frames, "\(file): \(d.frames) frames")
        }
        #expect(try dec.decode(path: TestSupport.fixture("ImagingTests", "gray16.png")).bitDepth == 16)
        #expect(try dec.decode(path: TestSupport.fixture("ImagingTests", "rgba.png")).hadAlpha)
    }

    @Test func exifOrientationIsApplied() throws {
        let path = TestSupport.fixture("ImagingTests", "orient6.jpg")
        let d = try ImageDecoder().decode(path: path)
        #expect(d.orientation == 6 && d.orientationApplied)
        #expect(d.image.width == 16 && d.image.height == 24)
        let raw = try ImageDecoder(applyOrientation: false).decode(path: path)
        #expect(raw.image.width == 24 && !raw.orientationApplied)
        #expect(raw.image.oriented(6) == d.image)
    }

    @Test func iccProfileConvertsToSRGB() throws {
        let path = TestSupport.fixture("ImagingTests", "adobergb.jpg")
        let converted = try ImageDecoder().decode(path: path)
        guard case .convertedToSRGB(let n) = converted.colorProfile else {
            Issue.record("profile not applied: \(converted.colorProfile)")
            return
        }
        #expect(n > 100)
        let raw = try ImageDecoder(convertColorProfile: false).decode(path: path)
        #expect(raw.colorProfile == .none)
        // Adobe RGB -> sRGB saturates colours: the pixels must change.
        #expect(raw.image != converted.image)
    }

    @Test func formatComesFromBytesNotExtension() throws {
        let png = try Data(contentsOf: URL(fileURLWithPath: TestSupport.fixture("ImagingTests", "rgb.png")))
        let d = try ImageDecoder().decode(data: [UInt8](png), name: "photo.jpg")
        #expect(d.format == .png)
    }

    @Test func resizeMatchesPIL() throws {
        let fx = TestSupport.loadFixture("ImagingTests", "resize.safetensors")
        let srcT = try #require(fx["src"])
        let src = Image(width: srcT.size(1), height: srcT.size(0), pixels: srcT.toArray(UInt8.self))
        var checked = 0
        for (key, ref) in fx where key != "src" {
            let parts = key.split(separator: "/")
            let filter = try #require(ResizeFilter(rawValue: String(parts[0])))
            let dims = parts[1].split(separator: "x").map { Int($0)! }
            let out = src.resized(width: dims[0], height: dims[1], filter: filter)
            let r = ref.toArray(UInt8.self)
            let maxDiff = zip(out.pixels, r).map { abs(Int($0) - Int($1)) }.max() ?? 0
            #expect(maxDiff <= 2, "\(key): max difference \(maxDiff) from PIL")
            checked += 1
        }
        #expect(checked == 12)
    }

    @Test func encodersRoundTrip() throws {
        let src = try ImageDecoder().decode(path: TestSupport.fixture("ImagingTests", "rgb.png")).image
        let png = try ImageDecoder().decode(data: ImageEncoder.png(src))
        #expect(png.image == src)
        for (q, sub) in [(95, ImageEncoder.Subsampling.s444), (50, .s420)] {
            let jpg = try ImageDecoder().decode(data: ImageEncoder.jpeg(src, quality: q, subsampling: sub))
            #expect(jpg.format == .jpeg)
            let err = zip(jpg.image.pixels, src.pixels).map { abs(Double($0) - Double($1)) }.reduce(0, +) / Double(src.pixels.count)
            #expect(err < (q == 95 ? 4 : 12), "q\(q): mean abs error \(err)")
        }
    }

    @Test func tensorConversionRoundTrips() throws {
        let src = try ImageDecoder().decode(path: TestSupport.fixture("ImagingTests", "rgb.png")).image
        let t = src.tensor()
        #expect(t.shape == [3, 16, 24])
        #expect(t.max().item() <= 1 && t.min().item() >= 0)
        #expect(Image(tensor: t) == src)
        let n = src.normalizedTensor(mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5])
        #expect(abs(n.select(axis: 0, index: 0).select(axis: 0, index: 0).select(axis: 0, index: 0).item()
                    - (Double(src.pixels[0]) / 255 - 0.5) / 0.5) < 1e-5)
        #expect(batchTensor([src, src], mean: [0, 0, 0], std: [1, 1, 1]).shape == [2, 3, 16, 24])
    }

    /// Every image in the c2pa-rs fixtures and the provenance originals decodes (skipped without ../shared).
    @Test(.enabled(if: TestSupport.hasSharedData, "needs ../shared/data (set AIDETECT_DATA): real-world decoder corpus"))
    func sharedCorpusDecodes() throws {
        let data = try #require(TestSupport.sharedData)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("corpus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for tar in ["c2pa-fixtures.tar", "provenance-originals.tar"] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/tar")
            p.arguments = ["-xf", data.appendingPathComponent(tar).path, "-C", dir.path]
            try p.run()
            p.waitUntilExit()
        }
        let files = FileManager.default.enumerator(atPath: dir.path)!.compactMap { $0 as? String }
            .filter { ["jpg", "jpeg", "png", "webp", "tif", "tiff", "gif", "heic", "heif", "avif", "bmp"].contains(($0 as NSString).pathExtension.lowercased()) }
        var decoded = 0, typedErrors = 0
        for f in files {
            do {
                _ = try ImageDecoder().decode(path: dir.appendingPathComponent(f).path)
                decoded += 1
            } catch let e as ImageError {
                // The conformance folder holds files broken on purpose; they must fail with a typed error.
                typedErrors += 1
                #expect(e.localizedDescription.contains(f.split(separator: "/").last!), "\(e)")
            }
        }
        #expect(decoded >= 50, "decoded \(decoded) of \(files.count), \(typedErrors) typed errors")
    }
}
