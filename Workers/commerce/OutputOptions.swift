import ArgumentParser
import Foundation

/// `--json`, shared by every subcommand.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print one JSON document on standard output instead of text.")
    var json = false

    /// Prints `value` as pretty JSON with snake_case keys (stable key order, for diffs and `jq`).
    func printJSON(_ value: some Encodable) {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            let data = try encoder.encode(value)
            print(String(decoding: data, as: UTF8.self))
        } catch {
            // Only reachable through a programming error in a report type: say so, do not crash.
            FileHandle.standardError.write(Data("error: could not encode the JSON report: \(error)\n".utf8))
        }
    }
}
