import ArgumentParser
import Detection
import Foundation

struct ScopeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scope",
        abstract: "Measure the out-of-scope rule (blank, noise-like, screen-like images -> \"uncertain\") on data sets of natural images.",
        discussion: """
            Prints the quantiles of the three image statistics the rule reads (luminance deviation, neighbour \
            correlation, share of flat 8x8 blocks) and how many images of each label and content the rule flags, as \
            JSON. The rule's thresholds (ContentCheck.standard) are set beyond what these sets hold; this command is \
            how they were chosen and how to check them on other data.
            """)
    @Option(help: "Data sets, comma-separated (tar, tar.gz, folder or manifest).") var data: String
    @Option(help: "Override the thresholds: deviation,correlation,flat (for trying others).") var thresholds: String?

    func run() throws {
        var check = ContentCheck.standard
        if let thresholds {
            let v = thresholds.split(separator: ",").compactMap { Double($0) }
            guard v.count == 3 else { throw ValidationError("--thresholds needs three numbers: deviation,correlation,flat") }
            check.minimumDeviation = v[0]; check.minimumCorrelation = v[1]; check.maximumFlatFraction = v[2]
        }
        let d = try Dataset.load(data, nearDuplicates: false)
        let survey = ScopeSurvey.run(d, check: check) { eprint("\($0)/\(d.samples.count) images") }
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try e.encode(survey), as: UTF8.self))
    }
}
