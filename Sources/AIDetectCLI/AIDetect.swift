import ArgumentParser
import Detection
import Foundation
import Imaging
import Models
import NN
import Torch

/// The `aidetect` command line. The executable target only calls `AIDetect.main()`.
public struct AIDetect: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "aidetect",
        abstract: "Tell whether images were made by a generative model, and show why.",
        discussion: """
            Exit codes of `scan`: 0 no image judged likely AI-generated; 1 at least one likely AI-generated; \
            2 some files could not be analysed (and none was likely AI); 3 both; 4 the model could not be loaded; \
            5 no image found to scan. 64: bad arguments.
            """,
        version: AIDetect.versionText,
        subcommands: [Scan.self, Info.self, ListModels.self, InitModel.self, ImportCheckpoint.self, Train.self, TrainProbe.self, Evaluate.self, SplitCommand.self, Calibrate.self, StackCommand.self, ExtractHead.self, Synth.self, Study.self, ExplainCommand.self, RobustnessCommand.self, AttackCommand.self, SpliceCommand.self, Localise.self, ProvenanceCommand.self, ScopeCommand.self, ReportCommand.self, ServeCommand.self, ReviewCommand.self, Launch.self],
        defaultSubcommand: Scan.self
    )
    public init() {}

    static var versionText: String {
        "aidetect 0.1.0 (LibTorch \(Runtime.version), CUDA: \(Runtime.cudaStatus), CPU bf16: \(Runtime.cpuHasNativeBF16 ? "native" : "emulated (fp32 is faster)"); \(codecVersions))"
    }
}

/// Options shared by commands that read images.
struct ImageOptions: ParsableArguments {
    @Option(help: "Largest file to read, in bytes.")
    var maxBytes: Int = ImageLimits.default.maxBytes
    @Option(help: "Largest image to decode, in pixels (checked before decoding).")
    var maxPixels: Int = ImageLimits.default.maxPixels
    @Flag(help: "Do not rotate images by their EXIF orientation tag.")
    var ignoreOrientation = false

    var decoder: ImageDecoder {
        ImageDecoder(limits: ImageLimits(maxBytes: maxBytes, maxPixels: maxPixels), applyOrientation: !ignoreOrientation)
    }
    func validate() throws {
        guard maxBytes > 0, maxPixels > 0 else { throw ValidationError("--max-bytes and --max-pixels must be positive") }
    }
}

struct RuntimeOptions: ParsableArguments {
    @Option(help: "CPU threads for LibTorch (default: all cores, or $AIDETECT_THREADS).")
    var threads: Int?
    @Option(help: "Inference precision of the models loaded: fp32, bf16 (bfloat16 matrix products: about twice as fast where the CPU has AVX-512 BF16 or AMX), int8 (dynamic INT8 Linear layers), or file (each model file's own aidetect.precision; the default, or $AIDETECT_PRECISION).")
    var precision: String?
    @Option(help: "Where LibTorch computes: cpu, cuda, or auto (CUDA when a GPU and the CUDA libraries are present; the default, or $AIDETECT_DEVICE).")
    var device: String?
    func apply() {
        if let threads { Runtime.threads = threads }
        if let precision { setenv("AIDETECT_PRECISION", precision.lowercased(), 1) }
        if let device { setenv("AIDETECT_DEVICE", device.lowercased(), 1) }
    }
    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if let precision, precision.lowercased() != "file", Precision(rawValue: precision.lowercased()) == nil {
            throw ValidationError("--precision must be fp32, bf16, int8 or file, not '\(precision)'")
        }
        if let device {
            switch device.lowercased() {
            case "cpu", "auto": break
            case "cuda":
                guard Runtime.cudaAvailable else { throw ValidationError("--device cuda: no CUDA device (\(Runtime.cudaStatus))") }
            default: throw ValidationError("--device must be cpu, cuda or auto, not '\(device)'")
            }
        }
    }
}

/// Writes to standard error.
func eprint(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

/// Prints a progress line and flushes, so that logs of long runs under nohup appear as they happen.
func logLine(_ s: String) {
    print(s)
    fflush(nil)
}

/// Where this process sits in a distributed run (c10d, Gloo): `--world-size N --rank R --master HOST:PORT`, or the
/// same from $AIDETECT_WORLD_SIZE, $AIDETECT_RANK and $AIDETECT_MASTER (which `aidetect launch` sets).
struct DistributedOptions: ParsableArguments {
    @Option(help: "Processes training together (default 1, or $AIDETECT_WORLD_SIZE).") var worldSize: Int?
    @Option(help: "This process's rank, 0..<world-size; rank 0 serves the meeting point and writes the outputs ($AIDETECT_RANK).") var rank: Int?
    @Option(help: "Rank 0's HOST:PORT, where the group meets ($AIDETECT_MASTER).") var master: String?
    @Option(help: "Seconds a rank waits for the others (meeting and every collective) before failing.") var distributedTimeout = 1800.0

    var resolved: (world: Int, rank: Int, master: String?) {
        let env = ProcessInfo.processInfo.environment
        return (worldSize ?? env["AIDETECT_WORLD_SIZE"].flatMap { Int($0) } ?? 1,
                rank ?? env["AIDETECT_RANK"].flatMap { Int($0) } ?? 0,
                master ?? env["AIDETECT_MASTER"])
    }

    func validate() throws {
        let r = resolved
        guard r.world >= 1 else { throw ValidationError("--world-size must be at least 1") }
        guard (0..<r.world).contains(r.rank) else { throw ValidationError("--rank must be in 0..<\(r.world), not \(r.rank)") }
        if r.world > 1 && r.master == nil { throw ValidationError("--world-size \(r.world) needs --master HOST:PORT (rank 0's address)") }
        guard distributedTimeout > 0 else { throw ValidationError("--distributed-timeout must be positive") }
    }

    /// The process group, or nil for a single process.
    func join() throws -> ProcessGroup? {
        let r = resolved
        guard r.world > 1, let master = r.master else { return nil }
        return try ProcessGroup(master: master, rank: r.rank, worldSize: r.world, timeout: distributedTimeout)
    }
}
