import Foundation
import Imaging
import Testing
import TestSupport
@testable import Detection
@testable import NN
@testable import Torch

/// Issue 13: the bundled model on CUDA scores as on the CPU, and INT8 only ever applies on the CPU.
@Suite struct DeviceTests {
    static func sample() throws -> Image {
        try ImageDecoder().decode(path: TestSupport.repositoryRoot.appendingPathComponent("samples/real-earth-apollo17.jpg").path).image
    }

    @Test func cpuLoadHonoursThePrecision() throws {
        let path = try Detector.loadDefault().path
        let plain = try Detector(path: path, device: .cpu)
        #expect(plain.device == .cpu && plain.precision == .fp32)
        let image = try Self.sample()
        let p32 = plain.assess(image).probability
        try plain.setPrecision(.int8)
        #expect(plain.precision == .int8)
        let p8 = plain.assess(image).probability
        #expect(p8 != p32, "INT8 changed nothing: was the packed path taken?")
        #expect(abs(p8 - p32) < 0.2, "fp32 \(p32), int8 \(p8)")
        try plain.setPrecision(.bf16)
        #expect(plain.precision == .bf16)
        let p16 = plain.assess(image).probability
        #expect(p16 != p32, "bf16 changed nothing: was the bf16 path taken?")
        #expect(abs(p16 - p32) < 0.02, "fp32 \(p32), bf16 \(p16)")
        try plain.setPrecision(.fp32)
        #expect(plain.assess(image).probability == p32)
    }

    /// A model file that asks for bf16 gets it where the CPU multiplies bf16 natively, and fp32 elsewhere (emulated
    /// bf16 would be slower than fp32); `--precision bf16` ($AIDETECT_PRECISION) still forces it.
    @Test func fileBF16FollowsTheCPU() throws {
        let (tensors, meta) = try Safetensors.load(path: try Detector.loadDefault().path)
        var asked = meta
        asked["aidetect.precision"] = "bf16"
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bf16-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("bf16.safetensors").path
        try Safetensors.save(tensors, metadata: asked, path: path)
        let d = try Detector(path: path, device: .cpu)
        #expect(d.precision == (Runtime.cpuHasNativeBF16 ? .bf16 : .fp32), "CPU capabilities: \(Runtime.cpuCapabilities)")
        #expect(Runtime.cpuHas("no_such_capability") == nil)
        #if arch(x86_64)
        // LibTorch names the x86 capabilities on x86 only.
        #expect(Runtime.cpuHas("avx512_bf16") != nil, "cpuinfo names: \(Runtime.cpuCapabilities)")
        #endif
    }

    @Test(.enabled(if: Runtime.cudaAvailable, Comment(rawValue: "no CUDA device here (\(Runtime.cudaStatus)); scripts/gpu_check.sh runs it on a GPU machine")))
    func bundledModelScoresAlikeOnCUDA() throws {
        let path = try Detector.loadDefault().path
        let cpu = try Detector(path: path, device: .cpu), gpu = try Detector(path: path, device: .cuda(0))
        #expect(gpu.device == .cuda(0) && gpu.model.device == .cuda(0))
        let image = try Self.sample()
        #expect(abs(cpu.assess(image).probability - gpu.assess(image).probability) < 1e-3)
    }
}

/// Issue 13: `scan` decodes files in batches, in parallel; the rows are exactly those of one file at a time (each file's
/// views have a forward pass of their own, so a score never depends on the files beside it), in the same order, and a
/// broken file in a batch costs only its own row.
@Suite struct BatchedScanTests {
    @Test func batchesMatchOneAtATime() throws {
        let detector = try Detector(path: try Detector.loadDefault().path, device: .cpu)
        let folder = TestSupport.repositoryRoot.appendingPathComponent("samples").path
        var single = Scanner(decoder: ImageDecoder(), detector: detector)
        single.batchSize = 1
        var batched = single
        batched.batchSize = 4
        var a: [ScanResult] = [], b: [ScanResult] = []
        single.walk(folder) { a.append($0) }
        batched.walk(folder) { b.append($0) }
        #expect(a.count == 7 && a.map(\.path) == b.map(\.path))
        #expect(b.filter { $0.error != nil }.map { ($0.path as NSString).lastPathComponent } == ["broken-truncated.jpg"])
        for (x, y) in zip(a, b) where x.error == nil {
            let (p, q) = (try #require(x.probability), try #require(y.probability))
            #expect(p == q, "\(x.path): \(p) alone, \(q) in a batch")
            #expect(x.verdict == y.verdict && x.family == y.family && x.views == y.views)
        }
        // Batches of images whose views differ in number (a wide photo has more windows) still line up.
        #expect(Set(b.compactMap(\.views)).count >= 1)
    }
}
