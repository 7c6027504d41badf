import Foundation
import Imaging

/// Scores a labelled set with a detector and summarises it overall and per generator.
public struct Evaluation: Sendable, Codable {
    public struct Row: Sendable, Codable {
        public var id: String, label: Int, generator: String, logit: Double?, probability: Double?, error: String?
    }
    public var model: String
    public var data: String
    public var split: String
    public var overall: BinaryMetrics
    /// Per generator: fakes against all reals of the set (so ROC-AUC is defined), reals on their own.
    public var perGenerator: [String: BinaryMetrics]
    public var errors: Int
    public var rows: [Row]

    /// Evaluates `samples`; undecodable files are recorded as errors and left out of the metrics.
    public static func run(detector: Detector, samples: [Sample], data: String, split: String,
                           decoder: ImageDecoder = ImageDecoder(), progress: ((Int, Int) -> Void)? = nil) -> Evaluation {
        let reader = SampleReader()
        var rows: [Row] = []
        for (i, s) in samples.enumerated() {
            var r = Row(id: s.id, label: s.label.rawValue, generator: s.generator, logit: nil, probability: nil, error: nil)
            do {
                let z = detector.logit(try decoder.decode(data: reader.bytes(s), name: s.id).image)
                r.logit = z
                r.probability = detector.calibrator.probability(logit: z)
            } catch {
                r.error = error.localizedDescription
            }
            rows.append(r)
            progress?(i + 1, samples.count)
        }
        let ok = rows.filter { $0.probability != nil }
        let overall = BinaryMetrics(probabilities: ok.map { $0.probability! }, labels: ok.map(\.label))
        var per: [String: BinaryMetrics] = [:]
        let reals = ok.filter { $0.label == 0 }
        for g in Set(ok.map(\.generator)) {
            let mine = ok.filter { $0.generator == g }
            let set = mine.first?.label == 1 ? reals + mine : mine
            per[g] = BinaryMetrics(probabilities: set.map { $0.probability! }, labels: set.map(\.label))
        }
        return Evaluation(model: detector.name, data: (data as NSString).lastPathComponent, split: split, overall: overall,
                          perGenerator: per, errors: rows.count - ok.count, rows: rows)
    }

    /// Why these numbers would not measure generalisation, when the model's own training data is evaluated:
    /// any split but `test` of a set it trained on, or the test split of another split seed than its own.
    /// Reads the model's `aidetect.training_data`, `aidetect.split_seed` and `aidetect.train_config` metadata.
    public static func trainingOverlapWarning(detector: Detector, data: String, split: String, splitSeed: UInt64) -> String? {
        guard let trained = detector.metadata["aidetect.training_data"] else { return nil }
        func names(_ s: String) -> Set<String> { Set(s.split(separator: ",").map { (String($0) as NSString).lastPathComponent }) }
        let shared = names(trained).intersection(names(data))
        guard !shared.isEmpty else { return nil }
        var modelSeed = detector.metadata["aidetect.split_seed"].flatMap { UInt64($0) }
        if modelSeed == nil, let json = detector.metadata["aidetect.train_config"]?.data(using: .utf8),
           let c = try? JSONSerialization.jsonObject(with: json) as? [String: Any] {
            // Runs before split seeds existed split with their seed.
            modelSeed = (c["splitSeed"] as? NSNumber ?? c["seed"] as? NSNumber).map { $0.uint64Value }
        }
        let set = shared.sorted().joined(separator: ", ")
        if names(trained) != names(data) {
            return "\(detector.name) was trained on \(trained.replacingOccurrences(of: ",", with: ", ")): the split of another combination of sets is another draw, so these \(split) images may include its training images (evaluate on \(trained) itself)"
        }
        if split != "test" {
            return "\(detector.name) was trained on \(set): its \(split == "all" ? "images include" : "\(split) split is part of") the data it learnt from, so these numbers do not measure generalisation (use --split test)"
        }
        if detector.metadata["aidetect.split"] != Dataset.splitVersion {
            return "\(detector.name) was trained on \(set) before splits were grouped: its test split may hold images that share a prompt, an original or a near-duplicate with its training images, so these numbers may be optimistic (retrain it to measure it honestly)"
        }
        if let m = modelSeed, m != splitSeed {
            return "\(detector.name) was trained on \(set) with split seed \(m): the test split of seed \(splitSeed) holds images it trained on (use --split-seed \(m))"
        }
        return nil
    }

    public func csv() -> String {
        var s = "id,label,generator,logit,probability,error\n"
        for r in rows {
            let e = (r.error ?? "").replacingOccurrences(of: "\"", with: "\"\"")
            s += "\"\(r.id)\",\(r.label),\(r.generator),\(r.logit.map { String($0) } ?? ""),\(r.probability.map { String($0) } ?? ""),\"\(e)\"\n"
        }
        return s
    }

    /// A self-contained HTML report (no external resources): tables and an inline SVG reliability diagram.
    public func html() -> String {
        func pct(_ x: Double) -> String { String(format: "%.1f%%", x * 100) }
        func f(_ x: Double?) -> String { x.map { String(format: "%.3f", $0) } ?? "n/a" }
        var rowsHTML = ""
        for g in perGenerator.keys.sorted() {
            let m = perGenerator[g]!
            let fake = rows.first { $0.generator == g }?.label == 1
            let n = rows.filter { $0.generator == g && $0.probability != nil }.count
            rowsHTML += "<tr><td>\(g)</td><td>\(fake ? "AI" : "real")</td><td>\(n)</td><td>\(pct(fake ? m.recall : 1 - Double(m.falsePositives) / Double(max(n, 1))))</td><td>\(fake ? f(m.rocAUC) : "")</td></tr>\n"
        }
        let size = 260.0
        var bars = ""
        for b in overall.reliability {
            let x = 30 + b.lower * size, w = (b.upper - b.lower) * size
            let h = b.fractionPositive * size
            bars += "<rect x=\"\(x)\" y=\"\(10 + size - h)\" width=\"\(w - 1)\" height=\"\(h)\" fill=\"#4a7\"><title>\(b.count) images, mean P \(f(b.meanProbability)), AI share \(f(b.fractionPositive))</title></rect>"
        }
        let o = overall
        return """
        <!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
        <title>aidetect evaluation: \(model) on \(data)</title>
        <style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}td:first-child,th:first-child{text-align:left}</style></head><body>
        <h1>\(model) on \(data) (\(split))</h1>
        <p>\(o.count) images scored, \(errors) could not be read. AI-generated is the positive class; verdict threshold P = \(o.threshold).</p>
        <table><tr><th>metric</th><th>value</th></tr>
        <tr><td>accuracy</td><td>\(pct(o.accuracy))</td></tr><tr><td>precision</td><td>\(pct(o.precision))</td></tr>
        <tr><td>recall</td><td>\(pct(o.recall))</td></tr><tr><td>F1</td><td>\(f(o.f1))</td></tr>
        <tr><td>ROC-AUC</td><td>\(f(o.rocAUC))</td></tr><tr><td>average precision</td><td>\(f(o.averagePrecision))</td></tr>
        <tr><td>expected calibration error</td><td>\(pct(o.ece))</td></tr><tr><td>Brier score</td><td>\(f(o.brier))</td></tr>
        <tr><td>confusion TP / FP / TN / FN</td><td>\(o.truePositives) / \(o.falsePositives) / \(o.trueNegatives) / \(o.falseNegatives)</td></tr></table>
        <h2>Per generator</h2>
        <table><tr><th>generator</th><th>label</th><th>images</th><th>correct</th><th>ROC-AUC vs reals</th></tr>
        \(rowsHTML)</table>
        <h2>Reliability</h2>
        <svg role="img" aria-label="reliability diagram" width="320" height="300" xmlns="http://www.w3.org/2000/svg">
        <rect x="30" y="10" width="\(size)" height="\(size)" fill="none" stroke="#999"/>\(bars)
        <line x1="30" y1="\(10 + size)" x2="\(30 + size)" y2="10" stroke="#c33" stroke-dasharray="4"/>
        <text x="30" y="\(size + 30)" font-size="12">predicted P(AI), bins; bar = share actually AI; dashed = perfect calibration</text></svg>
        </body></html>
        """
    }
}
