import CommandLineSupport
import FleetOperations

/// How the `commerce dlq` subcommands report a failure: one `Error: …` line (exit status 1),
/// and with `--json` also a JSON document `{"error": …}` on standard output.
enum DLQReporting {
    /// Reports `message` (also as JSON with `--json`) and exits with status 1.
    static func fail(_ message: String, output: OutputOptions) throws -> Never {
        if output.json {
            struct Failure: Encodable { var error: String }
            output.printJSON(Failure(error: message))
        }
        throw CommandFailure(message)
    }

    /// Runs `body`; a ``CommandFailure`` or `DeadLetterSessionError` it throws is also printed as
    /// JSON with `--json`.
    static func run(_ output: OutputOptions, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch let failure as CommandFailure {
            try fail(failure.description, output: output)
        } catch let failure as DeadLetterSessionError {
            try fail(failure.description, output: output)
        }
    }
}
