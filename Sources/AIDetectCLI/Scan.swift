import ArgumentParser
import Detection
import Foundation
import Imaging
import Models

struct Scan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score images (files or folders, recursively) for AI generation.",
        discussion: "Prints one row per file as it goes; a file that cannot be read gets an error row and the scan continues.")

    @Argument(help: "Image files or folders.")
    var paths: [String]
    @Option(name: .long, help: "Model file (.safetensors written by aidetect); default: the bundled model.")
    var model: String?
    @Flag(help: "One JSON object per file (JSON Lines).")
    var json = false
    @Flag(help: "CSV with a header row.")
    var csv = false
    @Flag(help: "Also list files whose extension is not an image type.")
    var allFiles = false
    @OptionGroup var image: ImageOptions
    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        if json && csv { throw ValidationError("choose one of --json and --csv") }
        if paths.isEmpty { throw ValidationError("give at least one file or folder") }
    }

    func run() throws {
        runtime.apply()
        let detector: Detector
        do { detector = try model.map { try Detector(path: $0) } ?? Detector.loadDefault() } catch {
            eprint("error: \(error.localizedDescription)")
            throw ExitCode(4)
        }
        let format: ScanOutput.Format = json ? .jsonLines : (csv ? .csv : .table)
        let out = ScanOutput(format: format, detector: detector)
        out.begin()
        let scanner = Scanner(decoder: image.decoder, detector: detector, includeAllFiles: allFiles)
        var flaggedAI = false, failed = false
        for path in paths {
            scanner.walk(path) { result in
                if result.verdict == .likelyAI { flaggedAI = true }
                if result.error != nil { failed = true }
                out.write(result)
            }
        }
        out.end()
        let code = (flaggedAI ? 1 : 0) | (failed ? 2 : 0)
        if code != 0 { throw ExitCode(Int32(code)) }
    }
}
