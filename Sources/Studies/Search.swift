import Detection
import Foundation
import Imaging
import ImagingTorch
import Models
import Torch

/// One trained-and-tested configuration of a study table.
public struct StudyRow: Sendable, Codable {
    public var name: String
    public var convLayers: Int?
    public var filters: Int?
    public var dense: [Int]?
    public var validationLoss: Double
    public var test: BinaryMetrics
    public var seconds: Double
}

/// Shared by the topology search and the baselines: train one registry model on a data set with the
/// Trainer (resumable), evaluate its best checkpoint on the test split.
/// The settings the topology search and the baselines share.
public struct StudySettings: Sendable {
    public var data: String
    public var directory: String
    public var epochs = 5
    public var batchSize = 64
    public var seed: UInt64 = 0
    /// At most this many images per generator, then equal reals and fakes (nil: the whole set as it is).
    public var cap: Int?
    public init(data: String, directory: String) {
        self.data = data
        self.directory = directory
    }
}

struct StudyRunner {
    let settings: StudySettings
    let log: (String) -> Void
    /// The data the runs train on: the set itself, or with `cap` a balanced manifest of it in the output folder.
    let data: String
    var directory: String { settings.directory }
    var epochs: Int { settings.epochs }
    var batchSize: Int { settings.batchSize }
    var seed: UInt64 { settings.seed }

    /// Creates the output folder.
    init(_ settings: StudySettings, log: @escaping (String) -> Void) throws {
        self.settings = settings
        self.log = log
        try FileManager.default.createDirectory(atPath: settings.directory, withIntermediateDirectories: true)
        if let cap = settings.cap {
            let path = settings.directory + "/data.csv"
            try Dataset.load(settings.data).capped(perGenerator: cap, seed: settings.seed).balanced(seed: settings.seed).writeManifest(to: path)
            data = path
        } else {
            data = settings.data
        }
    }

    func run(_ name: String, model: String, convLayers: Int? = nil, filters: Int? = nil, dense: [Int]? = nil) throws -> StudyRow {
        let dir = "\(directory)/runs/\(name)"
        let cache = dir + "/row.json"
        if let d = FileManager.default.contents(atPath: cache), let r = try? JSONDecoder().decode(StudyRow.self, from: d) { return r }
        let start = Date()
        var c = TrainConfig(model: model, data: data)
        c.convLayers = convLayers; c.filters = filters; c.dense = dense; c.inputSize = 32
        c.epochs = epochs; c.batchSize = batchSize; c.seed = seed; c.splitSeed = seed; c.patience = 3
        log("training \(name)")
        let t = Trainer(config: c, outputDirectory: dir)
        let history = try t.run(resume: FileManager.default.fileExists(atPath: dir + "/checkpoint.safetensors"))
        let test = try Dataset.load(data).split(train: c.trainFraction, validation: c.validationFraction, seed: seed).test
        let ev = Evaluation.run(detector: try Detector(path: t.bestModelPath), samples: test.samples, data: data, split: "test")
        let row = StudyRow(name: name, convLayers: convLayers, filters: filters, dense: dense,
                           validationLoss: history.map(\.validationLoss).min() ?? .nan, test: ev.overall,
                           seconds: Date().timeIntervalSince(start))
        try JSONEncoder().encode(row).write(to: URL(fileURLWithPath: cache))
        return row
    }
}

func studyTable(_ rows: [StudyRow], title: String) -> String {
    var s = "\(title)\n\n| model | val loss | accuracy | precision | recall | F1 | time |\n|---|---:|---:|---:|---:|---:|---:|\n"
    for r in rows {
        s += String(format: "| %@ | %.4f | %.2f%% | %.3f | %.3f | %.3f | %.0f s |\n", r.name, r.validationLoss, r.test.accuracy * 100,
                    r.test.precision, r.test.recall, r.test.f1, r.seconds)
    }
    return s
}

/// Pretty, sorted JSON for study reports; NaN (an empty cell) is written as "nan".
public func studyJSON<R: Encodable>(_ report: R) throws -> Data {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return try enc.encode(report)
}

/// Reads what `studyJSON` wrote (cached cells and accuracies).
public func studyDecode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
    let dec = JSONDecoder()
    dec.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return try dec.decode(type, from: data)
}

/// Writes NAME.json (the report), NAME.md and a self-contained NAME.html (tables, and `svg` plots if given).
public func writeStudyReport<R: Encodable>(_ report: R, name: String, title: String, markdown: String, svg: String = "", directory: String) throws {
    try writeStudy(report, markdown: markdown, name: name, directory: directory, title: title, svg: svg)
}

func writeStudy<R: Encodable>(_ report: R, markdown: String, name: String, directory: String, title: String? = nil, svg: String = "") throws {
    try studyJSON(report).write(to: URL(fileURLWithPath: "\(directory)/\(name).json"))
    try markdown.write(toFile: "\(directory)/\(name).md", atomically: true, encoding: .utf8)
    // A self-contained HTML page with the Markdown tables rendered as HTML tables.
    var html = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>\(title ?? name)</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #999;padding:3px 8px}</style></head><body>"
    if let title { html += "<h1>\(title)</h1>" }
    html += svg
    var inTable = false
    for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
        if line.hasPrefix("|") {
            if line.hasPrefix("|---") { continue }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast().map { $0.trimmingCharacters(in: .whitespaces) }
            html += (inTable ? "" : "<table>") + "<tr>" + cells.map { "<td>\($0)</td>" }.joined() + "</tr>"
            inTable = true
        } else {
            if inTable { html += "</table>"; inTable = false }
            if !line.isEmpty { html += "<p>\(line)</p>" }
        }
    }
    try (html + (inTable ? "</table>" : "") + "</body></html>\n").write(toFile: "\(directory)/\(name).html", atomically: true, encoding: .utf8)
}

/// The CIFAKE topology search (study 002, tables 2-11): conv layers {1,2,3} x filters {16,32,64,128} with one
/// dense layer of 64, then on the best feature extractor (lowest validation loss) dense sizes
/// {32..4096} x dense layers {1,2,3}: 12 + 24 = 36 networks.
public struct TopologySearch {
    public struct Report: Sendable, Codable {
        public var extractors: [StudyRow]
        public var classifiers: [StudyRow]
        public var best: String
        public var seconds: Double
    }
    public var settings: StudySettings
    public var convLayers = [1, 2, 3]
    public var filters = [16, 32, 64, 128]
    public var denseSizes = [32, 64, 128, 256, 512, 1024, 2048, 4096]
    public var denseLayers = [1, 2, 3]
    public var log: (String) -> Void = { _ in }
    public init(data: String, directory: String) { settings = StudySettings(data: data, directory: directory) }

    public func run() throws -> Report {
        let start = Date()
        let runner = try StudyRunner(settings, log: log)
        var extractors: [StudyRow] = []
        for l in convLayers {
            for f in filters { extractors.append(try runner.run("conv\(l)x\(f)", model: "cifake_cnn", convLayers: l, filters: f, dense: [64])) }
        }
        guard let best = extractors.min(by: { $0.validationLoss < $1.validationLoss }) else { throw DatasetError.empty("no configuration") }
        var classifiers: [StudyRow] = []
        for n in denseLayers {
            for d in denseSizes {
                classifiers.append(try runner.run("conv\(best.convLayers!)x\(best.filters!)-dense\(n)x\(d)", model: "cifake_cnn",
                                                  convLayers: best.convLayers, filters: best.filters, dense: Array(repeating: d, count: n)))
            }
        }
        let r = Report(extractors: extractors, classifiers: classifiers, best: best.name, seconds: Date().timeIntervalSince(start))
        let md = studyTable(extractors, title: "Feature extractors (dense 64), \(settings.epochs) epochs, data \((settings.data as NSString).lastPathComponent):")
            + "\n" + studyTable(classifiers, title: "Classifiers on the best extractor (\(best.name), lowest validation loss):")
        try writeStudy(r, markdown: md, name: "search", directory: settings.directory)
        return r
    }
}

/// Study 000's baselines and the spectrum baseline on the same split: an MLP, a LeNet-style CNN, and the
/// azimuthally averaged log-magnitude spectrum + logistic regression (Durall et al. 2020).
public struct BaselineStudy {
    public struct Report: Sendable, Codable {
        public var rows: [StudyRow]
        public var seconds: Double
    }
    public var settings: StudySettings
    public var log: (String) -> Void = { _ in }
    public init(data: String, directory: String) { settings = StudySettings(data: data, directory: directory) }

    public func run() throws -> Report {
        let start = Date()
        let runner = try StudyRunner(settings, log: log)
        var rows = [try runner.run("mlp", model: "mlp_baseline"), try runner.run("lenet", model: "lenet_baseline")]
        rows.append(try spectrum(runner))
        let r = Report(rows: rows, seconds: Date().timeIntervalSince(start))
        try writeStudy(r, markdown: studyTable(rows, title: "Baselines, \(settings.epochs) epochs, data \((settings.data as NSString).lastPathComponent):"),
                       name: "baselines", directory: settings.directory)
        return r
    }

    /// The spectrum baseline: features from `SpectrumFeatures`, a logistic regression (linear probe) with
    /// early stopping on the validation split.
    func spectrum(_ runner: StudyRunner) throws -> StudyRow {
        let start = Date()
        let seed = runner.seed
        let (train, val, test) = try Dataset.load(runner.data).standardSplit(seed: seed)
        let reader = SampleReader()
        func features(_ d: Dataset) -> (Tensor, [Int]) {
            var rows: [Tensor] = [], y: [Int] = []
            for s in d.samples {
                guard let im = try? reader.image(s) else { continue }
                rows.append(SpectrumFeatures.of(im))
                y.append(s.label.rawValue)
            }
            return (stacked(rows), y)
        }
        log("spectrum baseline: features of \(train.samples.count + val.samples.count + test.samples.count) images")
        let (xt, yt) = features(train), (xv, yv) = features(val), (xs, ys) = features(test)
        var o = LinearProbe.Options()
        o.seed = seed
        let probe = LinearProbe.train(x: xt, y: yt, validationX: xv, validationY: yv, options: o)
        let p = probe.logits(xs).map { 1 / (1 + exp(-$0)) }
        return StudyRow(name: "spectrum + logistic regression", validationLoss: probe.bestValidationLoss,
                        test: BinaryMetrics(probabilities: p, labels: ys), seconds: Date().timeIntervalSince(start))
    }
}

/// Durall et al. (2020): the 2-D DFT of the grey image, log magnitude, averaged over rings of equal radius
/// (the 1-D power spectrum), normalised to [0, 1] per image. The DFT is two matrix products with the
/// cos/sin DFT matrices (LibTorch matmul). Images are resized to `size` first.
public enum SpectrumFeatures {
    public static func of(_ image: Image, size: Int = 64) -> Tensor {
        let im = image.width == size && image.height == size ? image : image.resized(width: size, height: size, filter: .area)
        let grey = im.tensor().mean(axes: [0]).to(.float64)                     // [S, S]
        let (c, s) = dftMatrices(size)
        // F = W X W^T with W = C - iS: real part C X C^T - S X S^T, imaginary -(C X S^T + S X C^T).
        let re = c.matmul(grey).matmul(c.transposed(0, 1)) - s.matmul(grey).matmul(s.transposed(0, 1))
        let imag = (c.matmul(grey).matmul(s.transposed(0, 1)) + s.matmul(grey).matmul(c.transposed(0, 1))) * -1
        let magnitude = (re.square() + imag.square()).sqrt() + 1e-8
        let logMag = magnitude.log().toArray(Double.self)
        // Ring averages around the centre of the shifted spectrum.
        let half = size / 2
        var sums = [Double](repeating: 0, count: half), counts = [Double](repeating: 0, count: half)
        for y in 0..<size {
            for x in 0..<size {
                let fy = (y + half) % size - half, fx = (x + half) % size - half   // fftshift coordinates
                let r = Int((Double(fx * fx + fy * fy)).squareRoot())
                if r < half { sums[r] += logMag[y * size + x]; counts[r] += 1 }
            }
        }
        var profile = zip(sums, counts).map { $1 > 0 ? $0 / $1 : 0 }
        let lo = profile.min() ?? 0, hi = profile.max() ?? 1
        profile = profile.map { ($0 - lo) / max(hi - lo, 1e-12) }
        return Tensor(profile.map { Float($0) })
    }

    static func dftMatrices(_ n: Int) -> (Tensor, Tensor) {
        var c = [Double](repeating: 0, count: n * n), s = c
        for k in 0..<n {
            for j in 0..<n {
                let a = 2 * Double.pi * Double(k * j % n) / Double(n)
                c[k * n + j] = cos(a)
                s[k * n + j] = sin(a)
            }
        }
        return (Tensor(c, shape: [n, n]), Tensor(s, shape: [n, n]))
    }
}

/// A line plot with error bars as inline SVG: x positions evenly spaced with `xLabels`, one polyline per series
/// (mean, sd pairs; NaN points skipped).
public func studyLinePlot(title: String, xLabels: [String], series: [(name: String, points: [(Double, Double)])],
                          yRange: ClosedRange<Double> = 0...1) -> String {
    let w = 560.0, h = 320.0, pad = 50.0
    let n = max(xLabels.count - 1, 1)
    func x(_ i: Int) -> Double { pad + (w - 2 * pad) * Double(i) / Double(n) }
    func y(_ a: Double) -> Double { h - pad - (h - 2 * pad) * (min(max(a, yRange.lowerBound), yRange.upperBound) - yRange.lowerBound) / (yRange.upperBound - yRange.lowerBound) }
    let colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
    let esc = title.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: "\"", with: "&quot;")
    var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" role=\"img\" aria-label=\"\(esc)\">"
    s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/><text x=\"\(Int(pad))\" y=\"20\" font-size=\"13\">\(esc)</text>"
    let step = (yRange.upperBound - yRange.lowerBound) / 6
    for a in stride(from: yRange.lowerBound, through: yRange.upperBound + 1e-9, by: step) {
        s += String(format: "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/><text x=\"8\" y=\"%.1f\" font-size=\"11\">%.0f%%</text>", pad, w - pad, y(a), y(a), y(a) + 4, a * 100)
    }
    for (i, l) in xLabels.enumerated() { s += String(format: "<text x=\"%.1f\" y=\"%.0f\" font-size=\"11\" text-anchor=\"middle\">%@</text>", x(i), h - pad + 16, l) }
    for (i, ser) in series.enumerated() {
        let c = colours[i % colours.count]
        let valid = ser.points.enumerated().filter { !$0.element.0.isNaN }
        s += "<polyline fill=\"none\" stroke=\"\(c)\" stroke-width=\"2\" points=\"" + valid.map { String(format: "%.1f,%.1f", x($0.offset), y($0.element.0)) }.joined(separator: " ") + "\"/>"
        for p in valid {
            s += String(format: "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%@\"/>", x(p.offset), x(p.offset),
                        y(p.element.0 - p.element.1), y(p.element.0 + p.element.1), c)
        }
        s += "<text x=\"\(Int(w - pad - 190))\" y=\"\(Int(pad + 14 * Double(i)))\" font-size=\"12\" fill=\"\(c)\">\(ser.name)</text>"
    }
    return s + "</svg>"
}
