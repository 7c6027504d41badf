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
/// With several models the probability is a `Stacker`'s (a logistic regression fitted on validation images for
/// exactly these models) where one was fitted, else the score of the `primary` model (the one with the best
/// held-out figure on its card); never a plain mean, which lets a weak model pull a strong one to the middle.
/// The verdict is that probability's band, except that it is "uncertain" when the image is outside what
/// detectors can judge (`OutOfScope`) or when the models disagree: one calls the image likely AI-made and
/// another likely real (their scores straddle the uncertain band).
public struct Judgement: Sendable, Codable, Equatable {
    public var probability: Double
    public var verdict: Verdict
    /// Some models call the image likely AI-made and others likely real.
    public var disagreement: Bool
    public var outOfScope: OutOfScope?
    /// Why the verdict is what it is, for people.
    public var reason: String

    /// - Parameters: `scores` the models' calibrated P(AI) in order, `names` their display names; `stacker` combines
    ///   them where given, else `primary` indexes the model whose score stands.
    public init(scores: [Double], names: [String], outOfScope: OutOfScope? = nil, stacker: Stacker? = nil, primary: Int = 0) {
        precondition(!scores.isEmpty && scores.count == names.count, "Judgement: one name per score")
        precondition(scores.indices.contains(primary), "Judgement: primary model out of range")
        let stacked = scores.count > 1 ? stacker.flatMap { $0.weights.count == scores.count ? $0 : nil } : nil
        probability = stacked?.probability(scores) ?? scores[primary]
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
            if scores.count == 1 {
                reason = "the model's score"
            } else if stacked != nil {
                reason = "\(scores.count) models' scores combined by a stacker fitted on validation images; the models agree"
            } else {
                reason = "the score of \(names[primary]), the model with the best held-out figure; the other models agree"
            }
        }
    }

    /// The model whose score stands when no stacker is fitted: the best held-out ROC-AUC on the models' cards
    /// (ties and models without figures: the first).
    public static func primary(heldOutAUC: [Double?]) -> Int {
        var best = 0
        for (i, a) in heldOutAUC.enumerated() where (a ?? -1) > (heldOutAUC[best] ?? -1) { best = i }
        return best
    }
}
