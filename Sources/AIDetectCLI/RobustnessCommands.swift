import ArgumentParser
import Detection
import Foundation
import Robustness

struct RobustnessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "robustness",
        abstract: "Accuracy/AUC against degradation level (blur, JPEG, visible patch, downsize, resize, crop, noise) for models trained without and with each degradation, over seeds.",
        discussion: """
            Trains a plain model (flips only) and, per degradation, one with it as augmentation, for each seed (cached \
            under OUTPUT/runs), then scores the test split degraded at each level. Writes OUTPUT/robustness.{json,md,html} \
            (the HTML has one plot per degradation with error bars). With --detector, only that model file is scored, on the \
            seeded test split of the whole data set, the split a model trained on that set with that seed never saw.
            """)
    @Option(help: "Labelled data (folder, tar, tar.gz or CSV).") var data: String
    @Option(help: "Registry model to train.") var model = "cifake_cnn"
    @Option(help: "An existing model ('bundled' = the bundled model, or a file; names as for scan --model) to score instead of training, on the test split of the whole --data (no cap or balancing) for each seed: give the data and seed it was trained with (default model: bench256.tar, seed 0).") var detector: String?
    @Option(help: "Degradations, comma-separated: \(DegradationKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var degradations = "blur,jpeg,patch,downsize"
    @Option(help: "Levels for a single degradation, comma-separated (default: each one's standard levels).") var levels: String?
    @Option(help: "Seeds, comma-separated.") var seeds = "0,1,2"
    @Option var epochs = 3
    @Option var batchSize = 64
    @Option(help: "At most this many images per generator (then reals and fakes are balanced).") var cap = 2000
    @Option(help: "Fake generators to use, comma-separated (default: all).") var generators: String?
    @Option var output = "results/robustness"
    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        runtime.apply()
        var c = RobustnessStudy.Config(data: data)
        c.model = model
        c.degradations = try degradations.split(separator: ",").map {
            guard let k = DegradationKind(rawValue: String($0)) else { throw ValidationError("unknown degradation '\($0)'") }
            return k
        }
        if let levels {
            guard c.degradations.count == 1 else { throw ValidationError("--levels needs exactly one degradation") }
            c.levels[c.degradations[0]] = levels.split(separator: ",").compactMap { Double($0) }
        }
        c.seeds = seeds.split(separator: ",").compactMap { UInt64($0) }
        guard !c.seeds.isEmpty else { throw ValidationError("--seeds needs at least one seed") }
        c.epochs = epochs; c.batchSize = batchSize; c.capPerGenerator = cap
        c.generators = generators?.split(separator: ",").map(String.init) ?? []
        c.detector = detector
        var s = RobustnessStudy(config: c, directory: output)
        s.log = { logLine($0) }
        let r = try s.run()
        print(RobustnessStudy.markdown(r))
        print("\(Int(r.seconds)) s; \(output)/robustness.{json,md,html}")
    }
}

struct AttackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attack",
        abstract: "Adversarial attacks on test fakes (FGSM, PGD, Carlini-Wagner L2): confusion rate, transfer across samples and models, blur/JPEG defences.",
        discussion: """
            Attacks push fakes towards "real" in pixel space ([0, 1], eps in those units: 0.01 = 2.55/255). The \
            confusion rate is the share of fakes a model detected that the attack turns to "real". Give several \
            --models for the transfer matrix (different architectures, or the same one trained on disjoint data). \
            Attacks: fgsm:EPS, pgd:EPS[:STEPS[:STEP]], cw[:C[:STEPS[:LR[:KAPPA]]]]. Defences: none, blur:SIGMA, jpeg:Q. \
            Writes OUTPUT/attack.{json,md,html}.
            """)
    @Option(help: "Model files, comma-separated (names as for scan --model: 'bundled', 'default', 'clip' or files; all are attacked and judge each other).") var models: String
    @Option(help: "Labelled data (folder, tar, tar.gz or CSV); its test split (seed --seed) is used.") var data: String
    @Option(help: "Test fakes to attack.") var count = 200
    @Option var attacks = "fgsm:0.01,fgsm:0.02,fgsm:0.05,pgd:0.02:10:0.005,cw:1:100:0.01"
    @Option var defences = "none,blur:1,jpeg:75"
    @Option var seed: UInt64 = 0
    @Option var output = "results/attack"
    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        runtime.apply()
        var c = AttackStudy.Config(models: models.split(separator: ",").map(String.init), data: data)  // names as for scan --model
        c.attacks = try attacks.split(separator: ",").map {
            guard let a = Attack(String($0)) else { throw ValidationError("unknown attack '\($0)'") }
            return a
        }
        c.defences = try defences.split(separator: ",").map {
            guard let d = Defence(String($0)) else { throw ValidationError("unknown defence '\($0)'") }
            return d
        }
        if !c.defences.contains(.none) { c.defences.insert(.none, at: 0) }
        guard count >= 2 else { throw ValidationError("--count must be at least 2") }
        c.count = count; c.seed = seed
        var s = AttackStudy(config: c, directory: output)
        s.log = { logLine($0) }
        let r = try s.run()
        print(AttackStudy.markdown(r))
        print("\(Int(r.seconds)) s; \(output)/attack.{json,md,html}")
    }
}
