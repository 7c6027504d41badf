import Foundation
import Imaging
import Testing
import TestSupport
@testable import Detection

/// The out-of-scope rule (issue 18, point 4): blank, near-blank, noise and screenshot-like images are flagged with
/// their reason; photos are not.
@Suite struct ContentCheckTests {
    func image(_ w: Int, _ h: Int, _ f: (Int, Int) -> (UInt8, UInt8, UInt8)) -> Image {
        var px = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h { for x in 0..<w { let (r, g, b) = f(x, y); px[3 * (y * w + x)] = r; px[3 * (y * w + x) + 1] = g; px[3 * (y * w + x) + 2] = b } }
        return Image(width: w, height: h, pixels: px)
    }

    @Test func blankNoiseAndScreensAreOutOfScope() {
        var rng = SystemRandomNumberGenerator()
        let check = ContentCheck.standard
        #expect(check.assess(Image(width: 1024, height: 1024, fill: (128, 128, 128))) == .tooLittleContent)
        #expect(check.assess(Image(width: 1024, height: 768, fill: (0, 0, 0))) == .tooLittleContent)
        // Near-blank: grey with +-2 levels of noise.
        #expect(check.assess(image(512, 512) { _, _ in let v = UInt8(126 + Int.random(in: 0...4, using: &rng)); return (v, v, v) }) == .tooLittleContent)
        // A faint gradient is still too little.
        #expect(check.assess(image(512, 512) { x, _ in let v = UInt8(120 + x / 128); return (v, v, v) }) == .tooLittleContent)
        // Uniform noise.
        #expect(check.assess(image(512, 512) { _, _ in (UInt8.random(in: 0...255, using: &rng), UInt8.random(in: 0...255, using: &rng), UInt8.random(in: 0...255, using: &rng)) }) == .noiseLike)
        // Screenshot-like: a flat title bar and side panel, a white page with a few lines of text-like marks.
        let screen = image(1280, 800) { x, y in
            if y < 60 { return (40, 90, 160) }
            if x < 250 { return (235, 235, 240) }
            let line = (y - 100) / 40, inLine = y >= 100 && (y - 100) % 40 < 12 && line < 8
            let inWord = x > 300 && x < 900 && (x % 50) < 38 && (y + x / 3) % 5 != 0
            return inLine && inWord ? (30, 30, 30) : (255, 255, 255)
        }
        #expect(check.assess(screen) == .flatGraphics, "\(ContentStatistics(screen))")
    }

    @Test func samplePhotosAndFakesAreInScope() throws {
        let dir = TestSupport.repositoryRoot.appendingPathComponent("samples")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { ["jpg", "jpeg", "png", "webp"].contains(($0 as NSString).pathExtension) && !$0.hasPrefix("broken") }
        #expect(files.count >= 4)
        for f in files {
            let im = try ImageDecoder().decode(path: dir.appendingPathComponent(f).path).image
            #expect(ContentCheck.standard.assess(im) == nil, "\(f): \(ContentStatistics(im))")
        }
    }

    /// The thresholds hold on the natural images of bench256 and wild-train (what `aidetect scope` measures).
    @Test(.enabled(if: TestSupport.hasSharedData, "needs ../shared/data (bench256.tar, wild-train.tar)"))
    func naturalImagesAreNotFlagged() throws {
        let data = try #require(TestSupport.sharedData)
        let d = try Dataset.load(data.appendingPathComponent("wild-train.tar").path, nearDuplicates: false)
        let survey = ScopeSurvey.run(d)
        #expect(survey.images == d.samples.count)
        #expect(survey.flagged.isEmpty, "\(survey.examples)")
    }

    @Test func disagreementMakesTheVerdictUncertainWithTheReason() {
        let j = Judgement(scores: [0.98, 0.03], names: ["a", "b"])
        #expect(j.disagreement && j.verdict == .uncertain && abs(j.probability - 0.98) < 1e-12, "the primary (first) model's score, not the mean")
        #expect(j.reason.contains("disagree") && j.reason.contains("a 0.980 (likely-AI)") && j.reason.contains("b 0.030 (likely-real)"))
        let agree = Judgement(scores: [0.95, 0.75], names: ["a", "b"])
        #expect(!agree.disagreement && agree.verdict == .likelyAI)
        // One model in the band is not a disagreement: the primary model decides.
        let banded = Judgement(scores: [0.9, 0.5], names: ["a", "b"], primary: 1)
        #expect(!banded.disagreement && banded.probability == 0.5 && banded.verdict == .uncertain && banded.reason.contains("the score of b"))
        let blank = Judgement(scores: [0.99], names: ["a"], outOfScope: .tooLittleContent)
        #expect(blank.verdict == .uncertain && blank.reason.contains("too little content"))
    }

    @Test func primaryModelIsTheBestHeldOutFigure() {
        #expect(Judgement.primary(heldOutAUC: [0.87, 0.92, nil]) == 1)
        #expect(Judgement.primary(heldOutAUC: [nil, nil]) == 0)
        #expect(Judgement.primary(heldOutAUC: [0.9, 0.9]) == 0, "ties: the first")
    }

    /// The stacker recovers which model carries the signal and ranks at least as well as the better model alone.
    @Test func stackerWeighsTheInformativeModel() throws {
        var rng = SplitMix64(seed: 7)
        var scores: [[Double]] = [], labels: [Int] = []
        for i in 0..<400 {
            let y = i % 2
            let good = 1 / (1 + exp(-(Double(y) * 4 - 2 + rng.uniform(-1.5, 1.5))))
            let noise = rng.uniform(0.05, 0.95)
            scores.append([noise, good]); labels.append(y)
        }
        let s = Stacker.fit(scores: scores, labels: labels, models: [.init(name: "noise", digest: "n"), .init(name: "good", digest: "g")], fittedOn: "synthetic")
        #expect(abs(s.weights[0]) < 0.3 && s.weights[1] > 0.5, "\(s.weights)")
        let alone = try #require(s.memberAUC[1]), stacked = try #require(s.validationAUC)
        #expect(stacked >= alone - 1e-9)
        #expect(Judgement(scores: [0.5, 0.99], names: ["noise", "good"], stacker: s).probability > 0.9)
        #expect(Judgement(scores: [0.5, 0.99], names: ["noise", "good"], stacker: s).reason.contains("stacker"))
        // Written and read back; matched by digests in order only.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("s-\(UUID().uuidString)\(Stacker.fileSuffix)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try s.write(to: path)
        #expect(try Stacker.read(path) == s)
        #expect(Stacker.matching([s], digests: ["n", "g"]) == s)
        #expect(Stacker.matching([s], digests: ["g", "n"]) == nil)
        #expect(Stacker.matching([s], digests: ["n", nil]) == nil)
        #expect(throws: DetectorError.self) { try Stacker.read("/nonexistent/x.stacker.json") }
    }
}
