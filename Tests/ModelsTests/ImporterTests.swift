import Foundation
import Testing
import TestSupport
@testable import Models
@testable import NN
@testable import Torch

struct ImporterTests {
    static let expected = TestSupport.loadFixture("ModelsTests", "ckpt_expected.safetensors")

    @Test("reads zip and legacy torch.save files", arguments: ["ckpt_zip.pt", "ckpt_legacy.pt"])
    func formats(_ file: String) throws {
        var sd = try TorchCheckpoint.load(path: TestSupport.fixture("ModelsTests", file))
        #expect(sd["view_t"]!.toArray(Float.self) == Self.expected["view_t"]!.toArray(Float.self))
        #expect(sd["view_slice"]!.toArray(Float.self) == Self.expected["view_slice"]!.toArray(Float.self))
        sd.removeValue(forKey: "view_t")
        sd.removeValue(forKey: "view_slice")
        let m = CIFARResNet(depth: 8, classes: 3)
        try m.loadStateDict(sd)
        m.eval()
        let y = withNoGrad { m(Self.expected["in"]!) }
        let c = TestSupport.allClose(y, Self.expected["out"]!)
        #expect(c.ok, "\(c.message)")
    }

    @Test func badCheckpointsGiveTypedErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(throws: CheckpointError.self) { try TorchCheckpoint.load(path: dir.appendingPathComponent("missing.pt").path) }
        let good = try Data(contentsOf: URL(fileURLWithPath: TestSupport.fixture("ModelsTests", "ckpt_zip.pt")))
        for (i, bytes) in [Data(), Data("hello".utf8), good.prefix(good.count / 2), good.prefix(200)].enumerated() {
            let p = dir.appendingPathComponent("bad\(i).pt").path
            try bytes.write(to: URL(fileURLWithPath: p))
            #expect(throws: CheckpointError.self) { try TorchCheckpoint.load(path: p) }
        }
        let legacy = try Data(contentsOf: URL(fileURLWithPath: TestSupport.fixture("ModelsTests", "ckpt_legacy.pt")))
        let p = dir.appendingPathComponent("trunc_legacy.pt").path
        try legacy.prefix(legacy.count - 100).write(to: URL(fileURLWithPath: p))
        #expect(throws: CheckpointError.self) { try TorchCheckpoint.load(path: p) }
    }

    /// The akamaster CIFAR-10 ResNets in ../shared/data load into the registry models (skipped without the data).
    @Test(.enabled(if: TestSupport.hasSharedData, "needs ../shared/data (set AIDETECT_DATA): akamaster ResNet weights"))
    func akamasterWeights() throws {
        let data = try #require(TestSupport.sharedData)
        let dir = data.appendingPathComponent("weights/akamaster-resnet-cifar10")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".th") }) ?? []
        #expect(files.count == 4)
        for f in files.sorted() {
            let depth = Int(f.dropFirst("resnet".count).prefix(while: \.isNumber))!
            let model = try ModelRegistry.create("resnet\(depth)")
            let sd = try TorchCheckpoint.load(path: dir.appendingPathComponent(f).path)
            try model.loadStateDict(sd)
        }
    }
}
