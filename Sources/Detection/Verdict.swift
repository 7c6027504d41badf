/// The three-way answer shown to people: never a bare yes/no.
public enum Verdict: String, Sendable, Codable {
    case likelyReal = "likely-real"
    case uncertain
    case likelyAI = "likely-AI"

    /// Bands on P(AI): below `low` likely real, above `high` likely AI, uncertain between.
    public init(probability p: Double, low: Double = 0.3, high: Double = 0.7) {
        self = p < low ? .likelyReal : (p > high ? .likelyAI : .uncertain)
    }
}

/// What every output says once about how far to trust a verdict (the table's note, the CSV's header comment, the
/// JSON summary record, the API's `caveat`, the page).
public enum Reliability {
    public static let caveat = "Research-grade detectors: a score is evidence, not proof. They are often wrong on photos and art unlike "
        + "their training data and on generators they never saw; where models disagree, trust neither alone. Missing "
        + "metadata is not evidence of a real photo."
}

/// The combined verdict of one or more models on one image, with the reason it was reached.
///
/// The probability is the mean of the models' calibrated scores. The verdict is that mean's band, except that it
/// is "uncertain" when the image is outside what detectors can judge (`OutOfScope`) or when the models disagree:
/// one calls the image likely AI-made and another likely real (their scores straddle the uncertain band), a case
/// the mean would hide as a middling score.
public struct Judgement: Sendable, Codable, Equatable {
    public var probability: Double
    public var verdict: Verdict
    /// Some models call the image likely AI-made and others likely real.
    public var disagreement: Bool
    public var outOfScope: OutOfScope?
    /// Why the verdict is what it is, for people.
    public var reason: String

    /// - Parameters: `scores` the models' calibrated P(AI) in order, `names` their display names.
    public init(scores: [Double], names: [String], outOfScope: OutOfScope? = nil) {
        precondition(!scores.isEmpty && scores.count == names.count, "Judgement: one name per score")
        probability = scores.reduce(0, +) / Double(scores.count)
        let bands = scores.map { Verdict(probability: $0) }
        disagreement = bands.contains(.likelyAI) && bands.contains(.likelyReal)
        self.outOfScope = outOfScope
        if let outOfScope {
            verdict = .uncertain
            reason = outOfScope.reason
        } else if disagreement {
            verdict = .uncertain
            reason = "models disagree: " + zip(names, scores).map { "\($0) \(String(format: "%.3f", $1)) (\(Verdict(probability: $1).rawValue))" }
                .joined(separator: ", ") + "; trust neither alone"
        } else {
            verdict = Verdict(probability: probability)
            reason = scores.count == 1 ? "the model's score" : "mean of \(scores.count) models' scores, which agree"
        }
    }
}
