import Foundation

/// How several models' scores become one: a logistic regression on their logits, fitted on validation images
/// that none of the models trained on (stacking), never a plain mean. A mean lets a weak model drag a strong one
/// towards the middle; the fitted weights say how much each model is worth and calibrate the result.
///
/// A stacker belongs to one list of model files (by content digest, in order); `find(for:in:)` picks the one
/// fitted for the models being run. Without one, `Judgement` takes the score of the model with the best
/// held-out figure on its card and shows the others beside it.
public struct Stacker: Sendable, Codable, Equatable {
    public struct Member: Sendable, Codable, Equatable {
        /// The model's label when fitted, for people; matching uses the digest.
        public var name: String
        /// `ContentDigest.file` of the model file.
        public var digest: String
        public init(name: String, digest: String) {
            self.name = name
            self.digest = digest
        }
    }
    public var models: [Member]
    /// One weight per model's logit (logit of its calibrated P(AI)), then the bias.
    public var weights: [Double]
    public var bias: Double
    /// What it was fitted on (data sets, split, seed) and how well the stacked score ranks those images.
    public var fittedOn: String
    public var validationImages: Int
    public var validationAUC: Double?
    /// Each model's own ROC-AUC on the same images, in `models` order.
    public var memberAUC: [Double?]

    public static let fileSuffix = ".stacker.json"

    public init(models: [Member], weights: [Double], bias: Double, fittedOn: String, validationImages: Int,
                validationAUC: Double?, memberAUC: [Double?]) {
        self.models = models
        self.weights = weights
        self.bias = bias
        self.fittedOn = fittedOn
        self.validationImages = validationImages
        self.validationAUC = validationAUC
        self.memberAUC = memberAUC
    }

    /// The logit of a calibrated probability, clamped away from 0 and 1.
    static func logit(_ p: Double) -> Double {
        let q = min(max(p, 1e-6), 1 - 1e-6)
        return log(q / (1 - q))
    }

    /// The stacked P(AI) from the models' calibrated scores (in `models` order).
    public func probability(_ scores: [Double]) -> Double {
        precondition(scores.count == weights.count, "Stacker: \(scores.count) scores for \(weights.count) models")
        let z = zip(weights, scores).map { $0 * Self.logit($1) }.reduce(bias, +)
        return 1 / (1 + exp(-z))
    }

    /// Fits weights and bias by Newton's method on the log loss with a small L2 penalty on the weights (`ridge`),
    /// classes balanced. `scores[i]` holds the models' calibrated scores of image i, `labels[i]` 1 = AI-generated.
    public static func fit(scores: [[Double]], labels: [Int], models: [Member], fittedOn: String, ridge: Double = 1e-3) -> Stacker {
        precondition(scores.count == labels.count && !scores.isEmpty, "Stacker.fit: one label per image")
        let k = models.count
        precondition(scores.allSatisfy { $0.count == k }, "Stacker.fit: one score per model")
        let x = scores.map { $0.map(logit) + [1.0] }
        let npos = Double(labels.filter { $0 == 1 }.count), nneg = Double(labels.count) - npos
        let sampleWeight = labels.map { $0 == 1 ? 0.5 / max(npos, 1) : 0.5 / max(nneg, 1) }
        var beta = [Double](repeating: 0, count: k + 1)
        for _ in 0..<50 {
            var grad = [Double](repeating: 0, count: k + 1)
            var hess = [[Double]](repeating: [Double](repeating: 0, count: k + 1), count: k + 1)
            for (i, xi) in x.enumerated() {
                let z = zip(beta, xi).map(*).reduce(0, +)
                let p = 1 / (1 + exp(-z)), w = sampleWeight[i]
                for a in 0...k {
                    grad[a] += w * (p - Double(labels[i])) * xi[a]
                    for b in 0...k { hess[a][b] += w * p * (1 - p) * xi[a] * xi[b] }
                }
            }
            for a in 0..<k {
                grad[a] += ridge * beta[a]
                hess[a][a] += ridge
            }
            hess[k][k] += 1e-9
            guard let step = solve(hess, grad) else { break }
            beta = zip(beta, step).map(-)
            if step.map(abs).max() ?? 0 < 1e-9 { break }
        }
        var s = Stacker(models: models, weights: Array(beta.prefix(k)), bias: beta[k], fittedOn: fittedOn,
                        validationImages: labels.count, validationAUC: nil, memberAUC: [])
        s.validationAUC = BinaryMetrics.auc(scores.map { s.probability($0) }, labels)
        s.memberAUC = (0..<k).map { j in BinaryMetrics.auc(scores.map { $0[j] }, labels) }
        return s
    }

    /// Gaussian elimination with partial pivoting; nil when singular.
    static func solve(_ a: [[Double]], _ b: [Double]) -> [Double]? {
        var m = a, v = b
        let n = v.count
        for c in 0..<n {
            guard let p = (c..<n).max(by: { abs(m[$0][c]) < abs(m[$1][c]) }), abs(m[p][c]) > 1e-15 else { return nil }
            m.swapAt(c, p); v.swapAt(c, p)
            for r in (c + 1)..<n where r < n {
                let f = m[r][c] / m[c][c]
                for j in c..<n { m[r][j] -= f * m[c][j] }
                v[r] -= f * v[c]
            }
        }
        var out = [Double](repeating: 0, count: n)
        for r in stride(from: n - 1, through: 0, by: -1) {
            out[r] = (v[r] - ((r + 1)..<n).map { m[r][$0] * out[$0] }.reduce(0, +)) / m[r][r]
        }
        return out
    }

    public func write(to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try enc.encode(self).write(to: URL(fileURLWithPath: path))
    }

    public static func read(_ path: String) throws -> Stacker {
        guard let data = FileManager.default.contents(atPath: path) else { throw DetectorError.unreadable(path: path, reason: "cannot read the stacker file") }
        let dec = JSONDecoder()
        dec.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do { return try dec.decode(Stacker.self, from: data) } catch {
            throw DetectorError.unreadable(path: path, reason: "not a stacker file (\(error.localizedDescription))")
        }
    }

    /// The stacker fitted for exactly these model files in this order, among the `*.stacker.json` files of
    /// `folders` (default: the `models/` folders `Detector` looks in); nil when none matches.
    public static func find(for detectors: [Detector], in folders: [String]? = nil) -> Stacker? {
        guard detectors.count > 1 else { return nil }
        return matching(available(in: folders), digests: detectors.map { try? ContentDigest.file(path: $0.path) })
    }

    /// Every readable stacker file in `folders` (default: `Detector.modelFolders()`), in name order.
    public static func available(in folders: [String]? = nil) -> [Stacker] {
        (folders ?? Detector.modelFolders()).flatMap { folder -> [Stacker] in
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            return names.sorted().filter { $0.hasSuffix(fileSuffix) }.compactMap { try? read((folder as NSString).appendingPathComponent($0)) }
        }
    }

    /// The first of `stackers` fitted for models with exactly these digests (in order); nil when a digest is unknown.
    public static func matching(_ stackers: [Stacker], digests: [String?]) -> Stacker? {
        guard digests.count > 1, digests.allSatisfy({ $0 != nil }) else { return nil }
        let want = digests.map { $0! }
        return stackers.first { $0.models.map(\.digest) == want }
    }
}
