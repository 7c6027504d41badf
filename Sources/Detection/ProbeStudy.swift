import Foundation
import Imaging
import Models
import NN
import Torch

/// Trains and evaluates a frozen-backbone linear probe end to end and writes the model file and its
/// numbers: the in-distribution test split, leave-one-generator-out (LOGO) ROC-AUC, calibration, and the
/// verdict flip rate under JPEG q95 re-encoding and a 10% downsize. Everything is seeded and reproducible.
public struct ProbeStudy {
    public struct Config: Sendable, Codable {
        public var backbone = "efficientnet_lite0"
        public var backboneWeights: String
        public var data: String
        public var seed: UInt64 = 0
        public var trainFraction = Dataset.trainFraction
        public var validationFraction = Dataset.validationFraction
        /// Generators with fewer scorable held-out images (sharing no group with the training data) are not held out in LOGO.
        public var minimumLOGOSamples = 8
        public var cacheDirectory = ".cache/features"
        /// Randomly augmented views of every training image added as extra training rows (0-3; JPEG 60-100, blur,
        /// resize 0.5-1.5x, crops, flips: `EmbeddingView.trainingAugmentation`), so the head does not learn
        /// compression, size or framing.
        public var augmentedViews = 0
        /// Weight the loss so that, within each label, every content type (`photo`, `art`, unknown) weighs the same:
        /// breaks the "art = fake, photo = real" shortcut of sets whose content differs by label.
        public var balanceContent = false
        /// The content of real images whose manifest names none (the reals of bench256, CIFAR and Tiny-ImageNet are
        /// photographs).
        public var unlabelledRealContent = "photo"
        /// Sources (repositories) with fewer scorable held-out images are not held out in leave-one-source-out.
        public var minimumLOSOSamples = 8
        /// Train a second head that names the generator family (`AttributionFamily`), reported with its confusion.
        public var attribution = true
        /// The precision the frozen backbone embeds in (and the model file asks for): `bf16` is about twice as fast as
        /// fp32 where the CPU has native bf16 and keeps the features within cosine 0.999 of fp32 (CLIPImportTests).
        public var precision: Precision = .fp32
        public init(backboneWeights: String, data: String) {
            self.backboneWeights = backboneWeights
            self.data = data
        }
    }

    public struct GeneratorResult: Sendable, Codable {
        public var generator: String, label: String, testCount: Int
        /// Share of this generator's test images classified correctly at P = 0.5 (calibrated).
        public var accuracy: Double
        /// ROC-AUC of this generator's images against all real test images (fakes only).
        public var rocAUC: Double?
    }
    public struct LOGOResult: Sendable, Codable {
        public var heldOut: String, samples: Int, rocAUC: Double, accuracyOnHeldOut: Double, realAccuracy: Double
    }
    /// One held-out source repository: its images (those sharing no group with the training data) scored by a
    /// probe trained without the source, against test images of the label the source lacks.
    public struct LOSOResult: Sendable, Codable {
        public var source: String
        public var reals: Int, fakes: Int
        /// Images of the other label (test split, other sources) added so that a ROC-AUC exists.
        public var added: Int
        public var rocAUC: Double
        /// Share of the source's own images classified correctly at P = 0.5.
        public var accuracyOnSource: Double
    }
    /// Test-split figures within one content type (`photo` or `art`): real against fake of the same content.
    public struct ContentResult: Sendable, Codable {
        public var content: String, reals: Int, fakes: Int
        public var rocAUC: Double?
        /// Reals with P(AI) > 0.7 (the likely-AI verdict) and fakes with P(AI) > 0.7.
        public var realsFlagged: Double, fakesFlagged: Double
    }
    public struct Report: Sendable, Codable {
        public var config: Config
        public var counts: [String: Int]
        public var splitSizes: [String: Int]
        public var skipped: [String]
        public var probeSteps: Int
        public var calibrator: Calibrator
        public var testRaw: BinaryMetrics
        public var testCalibrated: BinaryMetrics
        public var perGenerator: [GeneratorResult]
        public var logo: [LOGOResult]
        public var logoMeanAUC: Double
        /// Share of the scored validation images whose verdict flips under each view (NaN when none was scored).
        public var flipRateJPEG95: Double
        public var flipRateResize90: Double
        /// Validation images each flip rate was measured on, by view ("jpeg95", "resize90").
        public var flipScored: [String: Int]
        /// "id (view): reason" for each validation image a view could not be made of (a failed JPEG re-encode):
        /// left out of that flip rate and listed here, never scored as the unperturbed original.
        public var flipFailures: [String]
        public var seconds: Double
        public var loso: [LOSOResult] = []
        public var losoMeanAUC: Double = .nan
        public var perContent: [ContentResult] = []
        /// Share of the real photos of the test split flagged likely-AI (P > 0.7), and of the fakes.
        public var realPhotoFalseAlarmRate: Double = .nan
        public var fakesFlaggedRate: Double = .nan
        /// Verdict flips (P = 0.5) on the validation split by view (`EmbeddingView.perturbations`).
        public var flipRates: [String: Double] = [:]
        /// Training rows: images, and augmented views of them.
        public var trainingRows = 0
        /// Milliseconds per image of the detector's forward pass on this machine (median of a few test images), and
        /// the machine's cores and LibTorch threads when it was measured.
        public var millisecondsPerImage: Double = .nan
        public var cores = ProcessInfo.processInfo.activeProcessorCount
        public var threads = Runtime.threads
        /// The generator-family head's confusion on the test split and on held-out sources (nil when not trained).
        public var attribution: AttributionReport?
    }

    public let config: Config
    public init(config: Config) { self.config = config }

    func backbone() throws -> (FeatureExtractor, Preprocessing) {
        let entry = try ModelRegistry.entry(config.backbone)
        guard let model = entry.make(ModelOptions(classes: entry.name == "efficientnet_lite0" ? 1000 : 1)) as? FeatureExtractor else {
            throw ModelError.unknownModel("\(config.backbone) (not a feature extractor)", known: ["efficientnet_lite0", "resnet18", "resnet50", "clip_vit_b16"])
        }
        let sd: [String: Tensor]
        if config.backboneWeights.hasSuffix(".onnx") {
            sd = try CLIPImporter.stateDict(onnxPath: config.backboneWeights).reduce(into: [:]) { $0["encoder." + $1.key] = $1.value }
        } else if config.backboneWeights.hasSuffix(".safetensors") {
            sd = try Safetensors.load(path: config.backboneWeights).tensors
        } else {
            sd = try TorchCheckpoint.load(path: config.backboneWeights)
        }
        let (missing, _) = try model.loadStateDict(sd, strict: false)
        let notHead = missing.filter { !$0.hasPrefix(model.headKey + ".") }
        if !notHead.isEmpty { throw CheckpointError.missingKeys(notHead) }
        model.eval()
        try config.precision.apply(to: model)
        return (model, entry.preprocessing)
    }

    /// The data set, the backbone, its preprocessing, and a function that embeds one view of some samples through the
    /// feature cache (every call across `group` when one is given). `skipped` hears each image that could not be embedded.
    func embedder(group: ProcessGroup?, log: @escaping (String) -> Void, skipped: @escaping (String) -> Void) throws
        -> (Dataset, FeatureExtractor, Preprocessing, (EmbeddingView, [Sample]) throws -> EmbeddingTable) {
        let dataset = try Dataset.load(config.data)
        let (model, pre) = try backbone()
        // The cache file is named by backbone and data set; inside, it records the weight file's digest and the
        // preprocessing, so new weights (or preprocessing) make it stale and it is rebuilt.
        // Embeddings in another precision are other numbers: the precision joins the digest (fp32 keeps the old key).
        let weightsDigest = try ContentDigest.file(path: config.backboneWeights) + (config.precision == .fp32 ? "" : "+\(config.precision.rawValue)")
        // Sample ids are relative to their set ("<folder>:<path>"), so two sets that share a name are told apart by
        // a hash of where they are.
        let location = config.data.split(separator: ",").map { URL(fileURLWithPath: String($0)).standardizedFileURL.path }.joined(separator: ",")
        let tag = "\(config.backbone)-\(((config.data as NSString).lastPathComponent as NSString).deletingPathExtension)-\(String(stableHash(location, 0) % 0xFFFF_FFFF, radix: 16))"
        let cacheDirectory = config.cacheDirectory
        // Another precision's embeddings live in files of their own, so that runs in two precisions do not evict each other.
        let precisionSuffix = config.precision == .fp32 ? "" : "-\(config.precision.rawValue)"
        func table(_ view: EmbeddingView, _ samples: [Sample]) throws -> EmbeddingTable {
            try FrozenFeatures.embed(samples, backbone: model, preprocessing: pre, view: view,
                                     cachePath: "\(cacheDirectory)/\(tag)-\(view.rawValue)\(precisionSuffix).safetensors", weightsDigest: weightsDigest,
                                     progress: { done, total in if total > 0 && (done % 320 == 0 || done == total) { log("embedding (\(view.rawValue)): \(done)/\(total)") } },
                                     onError: { s, e in skipped("\(s.id)\(view == .plain ? "" : " (\(view.rawValue))"): \(e.localizedDescription)") },
                                     group: group)
        }
        return (dataset, model, pre, table)
    }

    /// Embeds, across `group`, every view of every image that the study will embed (the plain view of all images,
    /// the augmented views of the training and validation images, the perturbed views of the validation images), so
    /// that rank 0 then runs the study alone on a full cache (`aidetect launch --nproc N -- train-probe ...`).
    public func prepareEmbeddings(group: ProcessGroup, log: @escaping (String) -> Void) throws {
        let (dataset, _, _, table) = try embedder(group: group, log: log) { _ in }
        let all = try table(.plain, dataset.samples)
        let parts = dataset.split(train: config.trainFraction, validation: config.validationFraction, seed: config.seed)
        let (train, val) = (parts.train.filtered { all.index[$0.id] != nil }, parts.validation.filtered { all.index[$0.id] != nil })
        for view in EmbeddingView.augmented(config.augmentedViews) { _ = try table(view, train.samples + val.samples) }
        for view in EmbeddingView.perturbations { _ = try table(view, Self.perturbable(val.samples, view: view).makeable) }
    }

    /// Runs the study; `log` receives progress lines. Returns the report and the trained detector model.
    public func run(log: @escaping (String) -> Void) throws -> (Report, Module) {
        let (r, m, _) = try runWithAttribution(log: log)
        return (r, m)
    }

    /// `run`, also returning the generator-family head (`AttributionFamily.allCases` order) when one was trained.
    public func runWithAttribution(log: @escaping (String) -> Void) throws -> (Report, Module, SoftmaxProbe?) {
        let start = Date()
        var skipped: [String] = []
        let (dataset, model, pre, table) = try embedder(group: nil, log: log) { skipped.append($0) }
        let all = try table(.plain, dataset.samples)
        // Split the whole set (grouped, as every trainer does), then drop what could not be embedded: the test split
        // is the one `eval --split test` scores, whatever failed to decode.
        let usable = dataset.filtered { all.index[$0.id] != nil }
        let parts = dataset.split(train: config.trainFraction, validation: config.validationFraction, seed: config.seed)
        let (train, val, test) = (parts.train.filtered { all.index[$0.id] != nil }, parts.validation.filtered { all.index[$0.id] != nil },
                                  parts.test.filtered { all.index[$0.id] != nil })
        log("split: train \(train.samples.count), validation \(val.samples.count), test \(test.samples.count)")
        func labels(_ d: Dataset) -> [Int] { d.samples.map(\.label.rawValue) }
        func content(_ s: Sample) -> String { s.content ?? (s.label == .real ? config.unlabelledRealContent : "unknown") }

        var options = LinearProbe.Options()
        options.seed = config.seed
        // Augmented views of the training images (and of every image that a leave-one-out probe may train on:
        // train and validation parts), embedded once and cached like the plain view.
        let augViews = EmbeddingView.augmented(config.augmentedViews)
        let augTables = try augViews.map { try table($0, train.samples + val.samples) }
        /// Within each label, every content cell weighs the same (or, unbalanced, each label weighs half).
        func weights(_ samples: [Sample]) -> [Double] {
            let cell = samples.map { "\($0.label)/\(config.balanceContent ? content($0) : "")" }
            let cellCount = cell.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
            let cellsPerLabel = Set(cell).reduce(into: [String: Int]()) { $0[String($1.split(separator: "/")[0]), default: 0] += 1 }
            return zip(samples, cell).map { s, c in 1 / Double(cellCount[c]!) / Double(cellsPerLabel["\(s.label)"]!) }
        }
        /// Trains a probe on `tr` (plus the augmented views of its images) with early stopping on `va`.
        func fit(_ tr: [Sample], _ va: [Sample]) -> LinearProbe {
            var x = [all.rows(tr)], y = labels(Dataset(samples: tr)), w = weights(tr)
            let base = y, baseW = w
            for t in augTables {
                let have = tr.indices.filter { t.index[tr[$0].id] != nil }
                x.append(t.rows(have.map { tr[$0] }))
                y += have.map { base[$0] }
                w += have.map { baseW[$0] }
            }
            return LinearProbe.train(x: concatenated(x, axis: 0), y: y, validationX: all.rows(va), validationY: labels(Dataset(samples: va)),
                                     weights: w, validationWeights: weights(va), options: options)
        }

        let probe = fit(train.samples, val.samples)

        // The attribution head: the generator family of every image whose family is known, same rows and views.
        let families = AttributionFamily.allCases
        func family(_ s: Sample) -> Int? { AttributionFamily.of(generator: s.generator, label: s.label).flatMap { families.firstIndex(of: $0) } }
        func fitFamilies(_ tr: [Sample], _ va: [Sample]) -> SoftmaxProbe? {
            let trk = tr.filter { family($0) != nil }, vak = va.filter { family($0) != nil }
            guard Set(trk.compactMap(family)).count == families.count, !vak.isEmpty else { return nil }
            var x = [all.rows(trk)], y = trk.map { family($0)! }
            for t in augTables {
                let have = trk.filter { t.index[$0.id] != nil }
                x.append(t.rows(have))
                y += have.map { family($0)! }
            }
            return SoftmaxProbe.train(x: concatenated(x, axis: 0), y: y, classes: families.count, validationX: all.rows(vak),
                                      validationY: vak.map { family($0)! }, options: options)
        }
        func predictFamilies(_ p: SoftmaxProbe, _ samples: [Sample]) -> [Int] {
            p.probabilities(all.rows(samples)).map { row in row.indices.max { row[$0] < row[$1] }! }
        }
        let familyProbe = config.attribution ? fitFamilies(train.samples, val.samples) : nil
        var heldOutFamilyTruth: [Int] = [], heldOutFamilyPredicted: [Int] = []
        let trainingRows = train.samples.count + augTables.map { t in train.samples.filter { t.index[$0.id] != nil }.count }.reduce(0, +)
        log("probe: \(probe.steps) steps, best validation loss \(String(format: "%.4f", probe.bestValidationLoss))")
        let valLogits = probe.logits(all.rows(val.samples))
        let calibrator = Calibrator.fit(.platt, logits: valLogits, labels: labels(val))
        let testLogits = probe.logits(all.rows(test.samples))
        let testRaw = BinaryMetrics(probabilities: testLogits.map(sigmoid), labels: labels(test))
        let testProbs = testLogits.map { calibrator.probability(logit: $0) }
        let testCal = BinaryMetrics(probabilities: testProbs, labels: labels(test))

        var perGenerator: [GeneratorResult] = []
        let realTest = test.samples.indices.filter { test.samples[$0].label == .real }
        for g in test.generators {
            let idx = test.samples.indices.filter { test.samples[$0].generator == g }
            let label = test.samples[idx[0]].label
            let correct = idx.filter { (testProbs[$0] >= 0.5 ? 1 : 0) == label.rawValue }.count
            var auc: Double?
            if label == .fake {
                let both = realTest + idx
                auc = BinaryMetrics.auc(both.map { testProbs[$0] }, both.map { test.samples[$0].label.rawValue })
            }
            perGenerator.append(GeneratorResult(generator: g, label: "\(label)", testCount: idx.count,
                                                accuracy: Double(correct) / Double(idx.count), rocAUC: auc))
        }

        // Leave one generator out: train without it (train and validation), test on the real test images and every
        // image of the held-out generator that shares no split group (prompt, original, near-duplicate) with the
        // training or validation data: its test and validation images, and its training images of groups no other
        // generator rendered. Its images whose prompt other generators rendered in the training split are left out,
        // since the model saw that content.
        var logo: [LOGOResult] = []
        let fakeGenerators = usable.filtered { $0.label == .fake }.generators
        for g in fakeGenerators {
            let tr = train.excluding(generators: [g]), va = val.excluding(generators: [g])
            let seenGroups = Set((tr.samples + va.samples).map(\.splitKey))
            let heldOut = usable.only(generators: [g]).samples.filter { !seenGroups.contains($0.splitKey) }
            guard heldOut.count >= config.minimumLOGOSamples else { continue }
            let p = fit(tr.samples, va.samples)
            let cal = Calibrator.fit(.platt, logits: p.logits(all.rows(va.samples)), labels: labels(va))
            let reals = test.samples.filter { $0.label == .real }
            let evalSet = reals + heldOut
            let probs = p.logits(all.rows(evalSet)).map { cal.probability(logit: $0) }
            let y = evalSet.map(\.label.rawValue)
            let auc = BinaryMetrics.auc(probs, y) ?? .nan
            let heldAcc = Double(probs.suffix(heldOut.count).filter { $0 >= 0.5 }.count) / Double(heldOut.count)
            let realAcc = Double(probs.prefix(reals.count).filter { $0 < 0.5 }.count) / Double(max(reals.count, 1))
            logo.append(LOGOResult(heldOut: g, samples: heldOut.count, rocAUC: auc, accuracyOnHeldOut: heldAcc, realAccuracy: realAcc))
            log("LOGO \(g): AUC \(String(format: "%.3f", auc)), held-out detected \(String(format: "%.3f", heldAcc))")
        }
        let logoMean = logo.isEmpty ? .nan : logo.map(\.rocAUC).reduce(0, +) / Double(logo.count)

        // Leave one source out: images of one repository share a style (and often a pipeline) a model can learn.
        // Train without every image of the source; score its images that share no group with the training data,
        // with test images of other sources for the label it lacks.
        var loso: [LOSOResult] = []
        for source in Set(usable.samples.compactMap(\.repository)).sorted() {
            let tr = train.filtered { $0.repository != source }, va = val.filtered { $0.repository != source }
            let seenGroups = Set((tr.samples + va.samples).map(\.splitKey))
            let heldOut = usable.samples.filter { $0.repository == source && !seenGroups.contains($0.splitKey) }
            guard heldOut.count >= config.minimumLOSOSamples, tr.samples.contains(where: { $0.label == .real }),
                  tr.samples.contains(where: { $0.label == .fake }) else { continue }
            let hasLabel = Set(heldOut.map(\.label))
            let added = hasLabel.count == 2 ? [] : test.samples.filter { $0.repository != source && !hasLabel.contains($0.label) }
            guard !added.isEmpty || hasLabel.count == 2 else { continue }
            let p = fit(tr.samples, va.samples)
            let cal = Calibrator.fit(.platt, logits: p.logits(all.rows(va.samples)), labels: labels(va))
            let evalSet = heldOut + added
            let probs = p.logits(all.rows(evalSet)).map { cal.probability(logit: $0) }
            let auc = BinaryMetrics.auc(probs, evalSet.map(\.label.rawValue)) ?? .nan
            let right = zip(heldOut, probs).filter { ($1 >= 0.5 ? 1 : 0) == $0.label.rawValue }.count
            if familyProbe != nil, let fp = fitFamilies(tr.samples, va.samples) {
                let known = heldOut.filter { family($0) != nil }
                heldOutFamilyTruth += known.map { family($0)! }
                heldOutFamilyPredicted += predictFamilies(fp, known)
            }
            loso.append(LOSOResult(source: source, reals: heldOut.filter { $0.label == .real }.count, fakes: heldOut.filter { $0.label == .fake }.count,
                                   added: added.count, rocAUC: auc, accuracyOnSource: Double(right) / Double(heldOut.count)))
            log("LOSO \(source): AUC \(String(format: "%.3f", auc)), own images right \(String(format: "%.3f", Double(right) / Double(heldOut.count)))")
        }
        let losoMean = loso.isEmpty ? .nan : loso.map(\.rocAUC).reduce(0, +) / Double(loso.count)

        // Within each content type, and the likely-AI verdict (P > 0.7) on real photos and on fakes.
        var perContent: [ContentResult] = []
        for c in ["photo", "art"] {
            let idx = test.samples.indices.filter { content(test.samples[$0]) == c }
            let r = idx.filter { test.samples[$0].label == .real }, f = idx.filter { test.samples[$0].label == .fake }
            guard !r.isEmpty || !f.isEmpty else { continue }
            func flagged(_ i: [Int]) -> Double { i.isEmpty ? .nan : Double(i.filter { testProbs[$0] > 0.7 }.count) / Double(i.count) }
            perContent.append(ContentResult(content: c, reals: r.count, fakes: f.count,
                                            rocAUC: BinaryMetrics.auc(idx.map { testProbs[$0] }, idx.map { test.samples[$0].label.rawValue }),
                                            realsFlagged: flagged(r), fakesFlagged: flagged(f)))
        }
        let realPhotos = test.samples.indices.filter { test.samples[$0].label == .real && content(test.samples[$0]) == "photo" }
        let fakes = test.samples.indices.filter { test.samples[$0].label == .fake }
        let realPhotoFalseAlarm = realPhotos.isEmpty ? .nan : Double(realPhotos.filter { testProbs[$0] > 0.7 }.count) / Double(realPhotos.count)
        let fakesFlagged = fakes.isEmpty ? .nan : Double(fakes.filter { testProbs[$0] > 0.7 }.count) / Double(fakes.count)

        // Verdict flips on the validation split under re-encoding and a 10% downsize.
        let valPlain = valLogits.map { calibrator.probability(logit: $0) >= 0.5 }
        // An image whose view cannot be made is left out and listed in flipFailures: the embedding step would
        // otherwise score the unperturbed original in its place and count it as "did not flip".
        var flipFailures: [String] = [], flipScored: [String: Int] = [:]
        func flipRate(_ view: EmbeddingView) throws -> Double {
            let (makeable, failures) = Self.perturbable(val.samples, view: view)
            flipFailures += failures
            for f in failures { log("flip rate: left out \(f)") }
            let t = try table(view, makeable)
            let ok = Set(makeable.map(\.id))
            let kept = val.samples.indices.filter { ok.contains(val.samples[$0].id) && t.index[val.samples[$0].id] != nil }
            flipScored[view.rawValue] = kept.count
            guard !kept.isEmpty else { return .nan }
            let p = probe.logits(t.rows(kept.map { val.samples[$0] })).map { calibrator.probability(logit: $0) >= 0.5 }
            return Double(zip(kept, p).filter { valPlain[$0.0] != $0.1 }.count) / Double(kept.count)
        }
        var flipRates: [String: Double] = [:]
        for v in EmbeddingView.perturbations { flipRates[v.rawValue] = try flipRate(v) }
        let flipJPEG = flipRates["jpeg95"] ?? .nan, flipResize = flipRates["resize90"] ?? .nan

        // The detector: the backbone with the probe as its head.
        let detector = try ModelRegistry.create(config.backbone, options: ModelOptions(classes: 1))
        var sd = (model as Module).stateDict().filter { !$0.key.hasPrefix((model as FeatureExtractor).headKey + ".") }
        sd["\(model.headKey).weight"] = Tensor(probe.weight, shape: [1, probe.weight.count])
        sd["\(model.headKey).bias"] = Tensor([probe.bias])
        try detector.loadStateDict(sd)
        detector.eval()
        try config.precision.apply(to: detector)
        let milliseconds = Self.forwardMilliseconds(detector, preprocessing: pre, samples: Array(test.samples.prefix(6)))
        var attribution: AttributionReport?
        if let familyProbe {
            let known = test.samples.filter { family($0) != nil }
            let (tc, ta) = AttributionReport.confusion(known.map { family($0)! }, predictFamilies(familyProbe, known), classes: families.count)
            let (hc, ha) = AttributionReport.confusion(heldOutFamilyTruth, heldOutFamilyPredicted, classes: families.count)
            attribution = AttributionReport(classes: families.map(\.rawValue), testConfusion: tc, testAccuracy: ta,
                                            heldOutSourceConfusion: hc, heldOutSourceAccuracy: ha)
            log("attribution: test accuracy \(String(format: "%.3f", ta)), held-out sources \(String(format: "%.3f", ha))")
        }

        let report = Report(config: config, counts: dataset.counts(),
                            splitSizes: ["train": train.samples.count, "validation": val.samples.count, "test": test.samples.count],
                            skipped: skipped, probeSteps: probe.steps, calibrator: calibrator, testRaw: testRaw, testCalibrated: testCal,
                            perGenerator: perGenerator, logo: logo, logoMeanAUC: logoMean, flipRateJPEG95: flipJPEG,
                            flipRateResize90: flipResize, flipScored: flipScored, flipFailures: flipFailures,
                            seconds: Date().timeIntervalSince(start), loso: loso, losoMeanAUC: losoMean, perContent: perContent,
                            realPhotoFalseAlarmRate: realPhotoFalseAlarm, fakesFlaggedRate: fakesFlagged, flipRates: flipRates,
                            trainingRows: trainingRows, millisecondsPerImage: milliseconds, attribution: attribution)
        return (report, detector, familyProbe)
    }
}

extension ProbeStudy {
    /// `image` re-encoded as JPEG quality 95 (4:4:4) and decoded again: the flip-rate check's re-encoding.
    /// - Throws: the decoder's `ImageError` when the re-encoded bytes cannot be decoded (for example when they
    ///   exceed `decoder`'s byte limit). Callers report it; they never score the original in its place.
    public static func reencodedJPEG95(_ image: Image, decoder: ImageDecoder = ImageDecoder()) throws -> Image {
        try decoder.decode(data: ImageEncoder.jpeg(image, quality: 95, subsampling: .s444), name: "JPEG q95 re-encode").image
    }

    /// The samples whose `view` can be made, and "id (view): reason" for each whose cannot (a failed JPEG
    /// re-encode). Unreadable samples are kept: the embedding step reports those itself.
    ///
    /// `EmbeddingView.apply` falls back to the original image when a re-encode fails; checking here first keeps
    /// such an image out of the flip rate instead of counting it as a verdict that did not flip.
    public static func perturbable(_ samples: [Sample], view: EmbeddingView, reader: SampleReader = SampleReader(),
                                   decoder: ImageDecoder = ImageDecoder()) -> (makeable: [Sample], failures: [String]) {
        guard view == .jpeg95 else { return (samples, []) }
        var makeable: [Sample] = [], failures: [String] = []
        for s in samples {
            guard let image = try? reader.image(s) else { makeable.append(s); continue }
            do {
                _ = try reencodedJPEG95(image, decoder: decoder)
                makeable.append(s)
            } catch {
                failures.append("\(s.id) (\(view.rawValue)): re-encoding failed: \(error.localizedDescription)")
            }
        }
        return (makeable, failures)
    }
}

extension ProbeStudy {
    /// Median milliseconds of `model`'s forward pass over each sample's preprocessed views (as a scan runs it),
    /// after one warm-up; NaN when no sample could be read.
    static func forwardMilliseconds(_ model: Module, preprocessing: Preprocessing, samples: [Sample]) -> Double {
        let reader = SampleReader(), pre = Preprocessor(preprocessing)
        let batches = samples.compactMap { try? reader.image($0) }.map { pre.views($0).batch }
        guard let first = batches.first else { return .nan }
        _ = withNoGrad { model(first) }
        let times = batches.map { b -> Double in
            let t0 = Date()
            _ = withNoGrad { model(b) }.toArray(Float.self)
            return Date().timeIntervalSince(t0) * 1000
        }.sorted()
        return times[times.count / 2]
    }

    /// A short name for a probe on `backbone`, for people ("CLIP ViT-B/16 probe").
    public static func label(backbone: String) -> String {
        let names = ["efficientnet_lite0": "EfficientNet-Lite0", "clip_vit_b16": "CLIP ViT-B/16", "clip_vit_b16_layers": "CLIP ViT-B/16 multi-layer",
                     "resnet18": "ResNet-18", "resnet50": "ResNet-50"]
        return (names[backbone] ?? backbone) + " probe"
    }
}

extension ProbeStudy.Report {
    /// The card's headline figures as the `aidetect.card` metadata JSON (`CardFigures`).
    public func cardFigures(card: String) -> String {
        let reals = testCalibrated.falsePositives + testCalibrated.trueNegatives
        let figures = CardFigures(testAUC: testCalibrated.rocAUC, heldOutAUC: logoMeanAUC,
                                  realFalseAlarmRate: reals > 0 ? Double(testCalibrated.falsePositives) / Double(reals) : nil, card: card)
        let e = JSONEncoder()
        e.outputFormatting = .sortedKeys
        return (try? e.encode(figures)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
