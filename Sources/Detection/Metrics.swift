import Foundation

/// Binary detection metrics with "AI-generated" as the positive class (studies 001/004).
public struct BinaryMetrics: Sendable, Codable, Equatable {
    public var count: Int, positives: Int
    public var truePositives: Int, falsePositives: Int, trueNegatives: Int, falseNegatives: Int
    public var threshold: Double
    public var accuracy: Double, precision: Double, recall: Double, f1: Double
    /// Area under the ROC curve (ties count half); nil when only one class is present.
    public var rocAUC: Double?
    /// Average precision (area under the precision-recall step curve, as scikit-learn); nil without positives.
    public var averagePrecision: Double?
    /// Expected calibration error of P(AI) over equal-width bins: sum over bins of |mean P - fraction AI| * share.
    public var ece: Double
    /// Mean squared error of P(AI) against the 0/1 label.
    public var brier: Double
    public var reliability: [ReliabilityBin]

    public struct ReliabilityBin: Sendable, Codable, Equatable {
        public var lower: Double, upper: Double, count: Int, meanProbability: Double, fractionPositive: Double
    }

    /// - Parameters: probabilities P(AI) in [0, 1]; labels 1 = AI-generated, 0 = real.
    public init(probabilities p: [Double], labels y: [Int], threshold: Double = 0.5, bins: Int = 15) {
        precondition(p.count == y.count, "BinaryMetrics: \(p.count) scores for \(y.count) labels")
        count = p.count
        positives = y.filter { $0 == 1 }.count
        self.threshold = threshold
        var tp = 0, fp = 0, tn = 0, fn = 0
        for (s, l) in zip(p, y) {
            let predicted = s >= threshold
            switch (predicted, l == 1) {
            case (true, true): tp += 1
            case (true, false): fp += 1
            case (false, false): tn += 1
            case (false, true): fn += 1
            }
        }
        truePositives = tp; falsePositives = fp; trueNegatives = tn; falseNegatives = fn
        let n = Double(max(count, 1))
        accuracy = Double(tp + tn) / n
        precision = tp + fp > 0 ? Double(tp) / Double(tp + fp) : 0
        recall = tp + fn > 0 ? Double(tp) / Double(tp + fn) : 0
        f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
        rocAUC = Self.auc(p, y)
        averagePrecision = Self.averagePrecision(p, y)
        brier = zip(p, y).map { ($0 - Double($1)) * ($0 - Double($1)) }.reduce(0, +) / n
        var rel: [ReliabilityBin] = []
        var e = 0.0
        for b in 0..<bins {
            let lo = Double(b) / Double(bins), hi = Double(b + 1) / Double(bins)
            let idx = p.indices.filter { p[$0] >= lo && (p[$0] < hi || (b == bins - 1 && p[$0] <= hi)) }
            guard !idx.isEmpty else { continue }
            let mp = idx.map { p[$0] }.reduce(0, +) / Double(idx.count)
            let fpos = Double(idx.filter { y[$0] == 1 }.count) / Double(idx.count)
            e += abs(mp - fpos) * Double(idx.count) / n
            rel.append(ReliabilityBin(lower: lo, upper: hi, count: idx.count, meanProbability: mp, fractionPositive: fpos))
        }
        ece = e
        reliability = rel
    }

    /// Mann-Whitney U / (n+ n-), with average ranks for ties.
    static func auc(_ p: [Double], _ y: [Int]) -> Double? {
        let pos = y.filter { $0 == 1 }.count, neg = y.count - pos
        guard pos > 0, neg > 0 else { return nil }
        let order = p.indices.sorted { p[$0] < p[$1] }
        var ranks = [Double](repeating: 0, count: p.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && p[order[j + 1]] == p[order[i]] { j += 1 }
            let r = Double(i + j) / 2 + 1
            for k in i...j { ranks[order[k]] = r }
            i = j + 1
        }
        let sumPos = p.indices.filter { y[$0] == 1 }.map { ranks[$0] }.reduce(0, +)
        return (sumPos - Double(pos * (pos + 1)) / 2) / Double(pos * neg)
    }

    /// sum_k (R_k - R_{k-1}) P_k over distinct thresholds, descending.
    static func averagePrecision(_ p: [Double], _ y: [Int]) -> Double? {
        let pos = y.filter { $0 == 1 }.count
        guard pos > 0 else { return nil }
        let order = p.indices.sorted { p[$0] > p[$1] }
        var tp = 0, fp = 0, ap = 0.0, lastRecall = 0.0
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && p[order[j + 1]] == p[order[i]] { j += 1 }
            for k in i...j { if y[order[k]] == 1 { tp += 1 } else { fp += 1 } }
            let recall = Double(tp) / Double(pos), precision = Double(tp) / Double(tp + fp)
            ap += (recall - lastRecall) * precision
            lastRecall = recall
            i = j + 1
        }
        return ap
    }
}
