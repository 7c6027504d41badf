import ArgumentParser
import Detection
import Foundation
import Imaging
import Models

struct Scan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score images (files or folders, recursively) for AI generation.",
        discussion: """
            Prints one row per file as it goes; a file that cannot be read gets an error row and the scan continues. \
            Folders are searched recursively for image files (by extension; --all-files tries every file). \
            Models: 'default' (the CLIP probe when installed by `make clip-model`, else the bundled model), 'bundled' \
            (the fast EfficientNet-Lite0 model inside the binary), 'clip', or a .safetensors file. \
            Exit codes: 0 no image judged likely AI-generated; 1 at least one likely AI-generated; 2 some files could \
            not be analysed (none likely AI); 3 both 1 and 2; 4 the model could not be loaded; 5 no image found to \
            scan; 64 bad arguments.
            """)

    @Argument(help: "Image files or folders.")
    var paths: [String]
    @Option(name: .long, help: "'default' (the CLIP probe when installed, else the bundled model), 'bundled', 'clip', or a model file (.safetensors written by aidetect).")
    var model: String?
    @Option(name: .long, help: "Several models, comma-separated (names as for --model); each score is shown, and the verdict is uncertain where they disagree.")
    var models: String?
    @Flag(help: "One JSON object per file (JSON Lines).")
    var json = false
    @Flag(help: "CSV with a header row.")
    var csv = false
    @Flag(help: "Also list files whose extension is not an image type.")
    var allFiles = false
    @Flag(help: "No progress count on standard error.")
    var quiet = false
    @OptionGroup var image: ImageOptions
    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        if json && csv { throw ValidationError("choose one of --json and --csv") }
        if model != nil && models != nil { throw ValidationError("use --model or --models, not both") }
        if paths.isEmpty { throw ValidationError("give at least one file or folder") }
        // A mistyped command is taken as a path by the default subcommand: catch words close to a command's name.
        if let first = paths.first, !FileManager.default.fileExists(atPath: first), !first.contains("/"), !first.contains(".") {
            let commands = AIDetect.configuration.subcommands.compactMap { $0.configuration.commandName ?? String(describing: $0).lowercased() }
            if let near = commands.map({ ($0, editDistance($0, first.lowercased())) }).min(by: { $0.1 < $1.1 }), near.1 <= 2 {
                throw ValidationError("'\(first)' is neither a file nor a command; did you mean 'aidetect \(near.0)'?")
            }
        }
    }

    func run() throws {
        runtime.apply()
        let detectors: [Detector]
        do {
            if let models {
                detectors = try Detector.loadList(models)
            } else {
                detectors = [try Detector.load(model ?? "default")]
            }
        } catch {
            eprint("error: \(error.localizedDescription)")
            throw ExitCode(4)
        }
        let format: ScanOutput.Format = json ? .jsonLines : (csv ? .csv : .table)
        let out = ScanOutput(format: format, detectors: detectors)
        out.begin()
        var scanner = Scanner(decoder: image.decoder, detectors: detectors, includeAllFiles: allFiles)
        var flaggedAI = false, failed = false
        // A live count on standard error when it is a terminal (results stream to standard output).
        let showProgress = isatty(2) != 0 && !quiet
        let start = Date()
        var n = 0
        for path in paths {
            scanner.walk(path) { result in
                if result.verdict == .likelyAI { flaggedAI = true }
                if result.error != nil { failed = true }
                if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                out.write(result)
                n += 1
                if showProgress {
                    let rate = Double(n) / max(Date().timeIntervalSince(start), 1e-3)
                    FileHandle.standardError.write(Data(String(format: "\r%d file(s), %.1f/s ", n, rate).utf8))
                }
            }
        }
        if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        out.end()
        if scanner.skippedNonImages > 0 && !quiet {
            eprint("note: \(scanner.skippedNonImages) file(s) without an image extension were skipped (--all-files tries them too)")
        }
        if n == 0 {
            eprint("warning: no image found in \(paths.joined(separator: ", "))" + (scanner.skippedNonImages > 0 ? " (--all-files tries files without an image extension)" : ""))
            throw ExitCode(5)
        }
        let code = (flaggedAI ? 1 : 0) | (failed ? 2 : 0)
        if code != 0 { throw ExitCode(Int32(code)) }
    }
}
