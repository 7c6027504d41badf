import ArgumentParser
import Detection
import Foundation
import Journal

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "The results recorded in scan journals (scan --journal), merged: one row per file, in path order.",
        discussion: """
            Journals of the shards of one scan (scan --shard i/N --journal FILE on each machine) merge into the report \
            of the whole scan; a file in several journals counts once (its latest record). The journals must come from \
            the same models. Formats as for scan (table, --json, --csv) and --html (a self-contained page). \
            Exit codes as for scan: 0, 1 some file likely AI-generated, 2 some file not analysed, 3 both; 64 a journal \
            that cannot be read.
            """)
    @Argument(help: "Journal files.") var journals: [String]
    @Flag(help: "One JSON object per file (JSON Lines), then the summary record.") var json = false
    @Flag(help: "CSV with a header row.") var csv = false
    @Flag(help: "A self-contained HTML page.") var html = false

    func validate() throws {
        if [json, csv, html].filter({ $0 }).count > 1 { throw ValidationError("choose one of --json, --csv and --html") }
        if journals.isEmpty { throw ValidationError("give at least one journal file") }
    }

    func run() throws {
        let meta: [String: String]
        do {
            meta = try ScanJournal.metadata(of: journals[0])
        } catch {
            eprint("error: \(error.localizedDescription)")
            throw ExitCode(64)
        }
        func list(_ key: String) -> [String] { meta[key].flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) } ?? [] }
        let out = ScanOutput(format: json ? .jsonLines : csv ? .csv : html ? .html : .table, names: list("names"),
                             placeholder: meta["placeholder"] == "true", selectionNotes: [], header: list("header"))
        out.begin()
        do {
            try ScanJournal.merged(journals) { out.write($0) }
        } catch {
            eprint("error: \(error.localizedDescription)")
            throw ExitCode(64)
        }
        out.end()
        let code = (out.flagged > 0 ? 1 : 0) | (out.failed > 0 ? 2 : 0)
        if code != 0 { throw ExitCode(Int32(code)) }
    }
}
