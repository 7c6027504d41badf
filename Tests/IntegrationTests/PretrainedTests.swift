import Foundation
import Testing
import TestSupport
@testable import Detection
import Imaging
@testable import Models
import Torch

/// Extracts members of a ../shared/data tar into a fresh temporary folder.
func extract(_ tar: URL, members: [String]) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("aidetect-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/tar")
    p.arguments = ["-xf", tar.path, "-C", dir.path] + members
    try p.run()
    p.waitUntilExit()
    return dir
}

struct PretrainedTests {
    struct Reference: Decodable { let top1: Double; let correct: Int; let n: Int; let predictions: [Int] }

    /// The imported EfficientNet-Lite0 reproduces the reference script's ImageNet top-1 on the 800 bench256
    /// ImageNet photos (scripts/reference_efficientnet_top1.py) within 0.5%.
    @Test(.enabled(if: TestSupport.hasSharedData, "needs ../shared/data (set AIDETECT_DATA): bench256.tar"),
          .enabled(if: TestSupport.hasCached("pretrained/efficientnet-lite0.pth"),
                   "needs .cache/pretrained/efficientnet-lite0.pth: run scripts/fetch_pretrained.sh"))
    func efficientNetLite0ImageNetTop1() throws {
        let data = try #require(TestSupport.sharedData)
        let weights = try #require(TestSupport.cached("pretrained/efficientnet-lite0.pth"))
        let refURL = URL(fileURLWithPath: TestSupport.fixture("ModelsTests", "efficientnet_lite0_reference.json"))
        let ref = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: refURL))
        let model = EfficientNetLite(classes: 1000)
        try model.loadStateDict(try TorchCheckpoint.load(path: weights.path))
        model.eval()
        let dir = try extract(data.appendingPathComponent("bench256.tar"), members: ["real/imagenet"])
        defer { try? FileManager.default.removeItem(at: dir) }
        let folder = dir.appendingPathComponent("real/imagenet")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        #expect(files.count == 800)
        let pre = Preprocessor(ModelRegistry.entries.first { $0.name == "efficientnet_lite0" }!.preprocessing)
        var predictions: [Int] = []
        var batch: [Tensor] = []
        for (j, f) in files.enumerated() {
            let image = try ImageDecoder().decode(path: folder.appendingPathComponent(f).path).image
            batch.append(pre.views(image).batch)
            if batch.count == 50 || j == files.count - 1 {
                let logits = withNoGrad { model(concatenated(batch, axis: 0)) }
                predictions += logits.argmax(axis: 1).toArray(Int64.self).map { Int($0) }
                batch = []
            }
        }
        let labels = (0..<800).map { ($0 / 4) * 5 + $0 % 4 }
        let correct = zip(predictions, labels).filter { $0 == $1 }.count
        let agree = zip(predictions, ref.predictions).filter { $0 == $1 }.count
        print("EfficientNet-Lite0 top-1 \(Double(correct) / 800) (reference \(ref.top1)), agreement \(agree)/800")
        #expect(abs(Double(correct) / 800 - ref.top1) <= 0.005)
        #expect(agree >= 792)
    }

    /// The four akamaster CIFAR-10 ResNets classify the JPEG CIFAR-10 test images about as the data README
    /// reports (about 81% for ResNet-20 and 83% for ResNet-56 on 3,000 images); here the first 500.
    @Test(.enabled(if: TestSupport.hasSharedData, "needs ../shared/data (set AIDETECT_DATA): cifar10.tar.gz and akamaster weights"))
    func akamasterCIFARAccuracy() throws {
        let data = try #require(TestSupport.sharedData)
        let classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
        let p = Process()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cifar-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        p.executableURL = URL(fileURLWithPath: "/bin/tar")
        p.arguments = ["-xzf", data.appendingPathComponent("cifar10.tar.gz").path, "-C", dir.path, "--wildcards", "real/cifar10/test/*/00[0-4]*.jpg"]
        try p.run()
        p.waitUntilExit()
        var images: [Tensor] = [], labels: [Int] = []
        for (ci, c) in classes.enumerated() {
            let folder = dir.appendingPathComponent("real/cifar10/test/\(c)")
            for f in (try FileManager.default.contentsOfDirectory(atPath: folder.path)).sorted().prefix(50) {
                let im = try ImageDecoder().decode(path: folder.appendingPathComponent(f).path).image
                images.append(im.normalizedTensor(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]))
                labels.append(ci)
            }
        }
        #expect(images.count == 500)
        let x = stacked(images)
        let weights = data.appendingPathComponent("weights/akamaster-resnet-cifar10")
        for (depth, file) in [(20, "resnet20-12fca82f.th"), (56, "resnet56-4bfd9763.th")] {
            let m = try ModelRegistry.create("resnet\(depth)")
            try m.loadStateDict(try TorchCheckpoint.load(path: weights.appendingPathComponent(file).path))
            m.eval()
            let pred = withNoGrad { m(x).argmax(axis: 1).toArray(Int64.self) }
            let acc = Double(zip(pred, labels).filter { Int($0) == $1 }.count) / 500
            print("resnet\(depth) accuracy on 500 JPEG CIFAR-10 test images: \(acc)")
            #expect(acc > 0.74 && acc < 0.92, "resnet\(depth): \(acc)")
        }
    }
}
