import ArgumentParser
import Foundation

/// `--json`, shared by every subcommand.
public struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print one JSON document on standard output instead of text.")
    public var json = false

    public init() {}

    /// `value` as pretty JSON with snake_case keys (stable key order, for diffs and `jq`), as
    /// ``printJSON(_:)`` prints it; for a report also written to a file.
    public static func encodeJSON(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    /// Prints `value` as pretty JSON with snake_case keys (stable key order, for diffs and `jq`).
    public func printJSON(_ value: some Encodable) {
        do {
            let data = try Self.encodeJSON(value)
            print(String(decoding: data, as: UTF8.self))
        } catch {
            // Only reachable through a programming error in a report type: say so, do not crash.
            FileHandle.standardError.write(Data("error: could not encode the JSON report: \(error)\n".utf8))
        }
    }
}
