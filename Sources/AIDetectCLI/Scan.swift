import ArgumentParser
import Detection
import Foundation
import Imaging
import Journal
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
            scan; 64 bad arguments. \
            With --journal FILE every file's outcome is recorded (SQLite) as it finishes; after an interruption the \
            same command with --resume scores only what is missing and prints the whole scan; identical files are \
            scored once. --shard i/N does the i-th of N parts (by path hash) for N machines; `aidetect report` \
            merges their journals.
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
    @Option(help: "Record every file's outcome in this SQLite journal as it finishes (resumable; `aidetect report` merges journals).")
    var journal: String?
    @Flag(help: "Continue the scan recorded in --journal: files already there are not scored again (their rows are printed).")
    var resume = false
    @Option(help: "Do only shard i of N (by a hash of each path): run the same command with 1/N ... N/N on N machines.")
    var shard: String?
    @OptionGroup var image: ImageOptions
    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        if json && csv { throw ValidationError("choose one of --json and --csv") }
        if model != nil && models != nil { throw ValidationError("use --model or --models, not both") }
        if paths.isEmpty { throw ValidationError("give at least one file or folder") }
        if resume && journal == nil { throw ValidationError("--resume continues a --journal FILE: name the journal") }
        if let shard { do { _ = try Shard(shard) } catch { throw ValidationError(error.localizedDescription) } }
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
        let stacker = Stacker.find(for: detectors)
        let out = ScanOutput(format: format, detectors: detectors, stacker: stacker)
        let book: ScanJournal?
        let part = (try? shard.map(Shard.init)) ?? .whole  // checked in validate()
        do {
            book = try journal.map { try ScanJournal(path: $0, models: JournaledScan.modelIdentity(detectors), shard: part, resume: resume) }
            try book?.setMetadata(["names": String(decoding: try JSONEncoder().encode(out.names), as: UTF8.self),
                                   "header": String(decoding: try JSONEncoder().encode(out.header), as: UTF8.self),
                                   "placeholder": out.placeholder ? "true" : "false"])
        } catch {
            eprint("error: \(error.localizedDescription)")
            throw ExitCode(64)
        }
        out.begin()
        var scan = JournaledScan(scanner: Scanner(decoder: image.decoder, detectors: detectors, includeAllFiles: allFiles, stacker: .some(stacker)), journal: book, shard: part)
        var flaggedAI = false, failed = false
        // A live count with rate and ETA on standard error when it is a terminal (results stream to standard output).
        let showProgress = isatty(2) != 0 && !quiet
        let total = showProgress ? scan.count(paths) : 0
        let start = Date()
        var n = 0
        do {
            try scan.run(paths) { result in
                if result.verdict == .likelyAI { flaggedAI = true }
                if result.error != nil { failed = true }
                if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                out.write(result)
                n += 1
                if showProgress {
                    let rate = Double(n) / max(Date().timeIntervalSince(start), 1e-3)
                    let eta = total > n ? String(format: ", about %.0f s left", Double(total - n) / max(rate, 1e-9)) : ""
                    FileHandle.standardError.write(Data(String(format: "\r%d/%d file(s), %.1f/s%@ ", n, total, rate, eta).utf8))
                }
            }
        } catch {
            if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            eprint("error: the journal could not be written (\(error.localizedDescription)); the scan stopped after \(n) file(s) and can be resumed")
            throw ExitCode(2)
        }
        if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        out.end()
        if let book, !quiet {
            eprint("journal \(book.path): \((try? book.count()) ?? 0) file(s) recorded; this run took \(scan.resumed) from the journal, reused \(scan.reused) result(s) of identical files"
                   + (scan.otherShards > 0 ? ", left \(scan.otherShards) file(s) to other shards" : ""))
        }
        if scan.skippedNonImages > 0 && !quiet {
            eprint("note: \(scan.skippedNonImages) file(s) without an image extension were skipped (--all-files tries them too)")
        }
        if n == 0 && scan.otherShards > 0 {
            eprint("note: none of the \(scan.otherShards) file(s) found belongs to shard \(part)")
            return
        }
        if n == 0 {
            eprint("warning: no image found in \(paths.joined(separator: ", "))" + (scan.skippedNonImages > 0 ? " (--all-files tries files without an image extension)" : ""))
            throw ExitCode(5)
        }
        let code = (flaggedAI ? 1 : 0) | (failed ? 2 : 0)
        if code != 0 { throw ExitCode(Int32(code)) }
    }
}
