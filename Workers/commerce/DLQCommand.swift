import ArgumentParser

/// `commerce dlq`: inspect, replay, purge and export the dead letters of the worker queues
/// (docs/architecture.md, "Failures").
struct DLQCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "Inspect, replay, purge and export dead letters.",
        discussion: """
            Reads <queue>.dlq of the fleet's queues (or of each --queue) with basic.get and no \
            auto-ack; whatever a subcommand does not remove is returned to its queue (one \
            basic.nack, requeue) before the command ends.
            """,
        subcommands: [
            DLQListCommand.self, DLQSummaryCommand.self, DLQShowCommand.self, DLQReplayCommand.self,
            DLQPurgeCommand.self, DLQExportCommand.self,
        ])
}
