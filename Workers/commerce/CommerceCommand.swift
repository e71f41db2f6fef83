import ArgumentParser

/// The root of the `commerce` command line: the operator's tool (the benchmarks, fault injection
/// and the sample-order demo are in `commerce-lab`).
///
/// Every subcommand prints a readable report, or JSON with `--json`, and exits non-zero when it
/// failed; bad input is reported as a message and a usage hint, never as a crash.
struct CommerceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "commerce",
        abstract: "Operate the commerce worker fleet.",
        discussion: """
            Connection settings come from options or from the environment variables the workers \
            use (AMQP_URL, DATABASE_URL, MONGO_URL); an option wins over its variable.
            """,
        subcommands: [
            SmokeCommand.self, QueuesCommand.self, SetupCommand.self, StockCommand.self, DLQCommand.self,
            StatusCommand.self, AuditCommand.self, PlaceOrderCommand.self,
            CancelOrderCommand.self, OrderCommand.self, OutboxCommand.self,
        ])
}
