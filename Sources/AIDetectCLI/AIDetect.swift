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
        subcommands: [Scan.self, Info.self, ListModels.self, InitModel.self, ImportCheckpoint.self, Train.self, TrainProbe.self, Evaluate.self, SplitCommand.self, Calibrate.self, StackCommand.self, ExtractHead.self, Synth.self, Study.self, ExplainCommand.self, RobustnessCommand.self, AttackCommand.self, SpliceCommand.self, Localise.self, ProvenanceCommand.self, ScopeCommand.self, ReportCommand.self, ServeCommand.self],
        defaultSubcommand: Scan.self
    )
    public init() {}

    static var versionText: String {
        "aidetect 0.1.0 (LibTorch \(Runtime.version), CUDA: \(Runtime.cudaStatus); \(codecVersions))"
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
    @Option(help: "Inference precision of the models loaded: fp32, int8 (dynamic INT8 Linear layers), or file (each model file's own aidetect.precision; the default, or $AIDETECT_PRECISION).")
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
            throw ValidationError("--precision must be fp32, int8 or file, not '\(precision)'")
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
