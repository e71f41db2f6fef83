import CommerceMessages
import Foundation
import Postgres
import Synchronization
import WorkerRuntime

/// The probe worker's handler: a stand-in for a real saga worker that the runtime's integration
/// tests and benchmark drive. Each `probe.work` message says what to do; every message that takes
/// effect writes one row to `probe_effects` (deliberately without a unique key, so a duplicated
/// effect shows up as two rows) and, when asked, emits a `probe.done` event through the outbox.
struct ProbeHandler: MessageHandler {
    /// The body of `probe.work`.
    struct Work: Decodable, Sendable {
        /// `ok`; `fail_transient` (fails while attempts < `failures`); `fail_permanent`; `sleep`
        /// (blocks `sleep_ms` inside the transaction); `commit` (tries to commit the batch's
        /// transaction, ignores the refusal, then takes effect); `swallow_error` (runs a failing
        /// statement, ignores the error, then returns); `emit_twice` (emits two events with one
        /// message id, which the outbox refuses).
        var action: String
        var failures: Int?
        var sleepMs: Int?
        var emit: Bool?

        enum CodingKeys: String, CodingKey {
            case action, failures, emit
            case sleepMs = "sleep_ms"
        }
    }

    static let actions: Set<String> = [
        "ok", "fail_transient", "fail_permanent", "sleep", "commit", "swallow_error", "emit_twice", "fail_prepare",
    ]

    let appID: String

    func migrate(_ database: PostgresConnection) throws {
        try database.executeScript(
            """
            create table if not exists probe_effects (
                id bigserial primary key,
                message_id text not null,
                correlation_id text not null,
                attempts int not null,
                created_at timestamptz not null default now()
            );
            create index if not exists probe_effects_message on probe_effects (message_id);
            alter table probe_effects add column if not exists prepared text;
            """)
    }

    func decode(_ message: IncomingMessage) throws -> Work {
        guard message.envelope.type == "probe.work" else {
            throw HandlingFailure.permanent("unknown_type", "unknown message type '\(message.envelope.type)'")
        }
        let work: Work
        do {
            work = try JSONDecoder().decode(Work.self, from: Data(message.body))
        } catch DecodingError.dataCorrupted {
            throw HandlingFailure.permanent("malformed_json", "the body is not valid JSON")
        } catch {
            throw HandlingFailure.permanent("schema_violation", "the body is not a probe.work: \(error)")
        }
        guard Self.actions.contains(work.action) else {
            throw HandlingFailure.permanent("schema_violation", "unknown action '\(work.action.prefix(32))'")
        }
        return work
    }

    func handle(_ work: Work, prepared: Void, context: HandlerContext) throws -> [OutgoingMessage] {
        try handle(work, preparedBy: nil, context: context)
    }

    /// The effect of `work`; `preparedBy` is recorded when a preparing phase ran.
    func handle(_ work: Work, preparedBy: String?, context: HandlerContext) throws -> [OutgoingMessage] {
        switch work.action {
        case "fail_transient" where context.attempts < (work.failures ?? 1):
            throw HandlingFailure.transient("probe_transient", "failing on purpose (attempt \(context.attempts + 1))")
        case "fail_permanent":
            throw HandlingFailure.permanent("probe_permanent", "failing on purpose")
        case "sleep":
            // Stands for a handler blocked on a lock or a slow gateway.
            Thread.sleep(forTimeInterval: Double(work.sleepMs ?? 0) / 1000)
        case "commit":
            // A handler trying to end the batch's transaction early: the runtime refuses.
            _ = try? context.database.query("commit")
        case "swallow_error":
            _ = try? context.database.query("select 1 / 0")
            return []
        default:
            break
        }
        // The effect's result is not read: queued, it travels with the batch's commit.
        try context.database.enqueue(
            "insert into probe_effects (message_id, correlation_id, attempts, prepared) values ($1, $2, $3, $4)",
            [
                .text(context.envelope.messageID), .text(context.envelope.correlationID),
                .int(Int64(context.attempts)), preparedBy.map { .text($0) } ?? .null,
            ])
        if work.action == "emit_twice" {
            let envelope = context.envelope.reply(type: "probe.done", appID: appID)
            let body = Array("{\"source_message_id\":\"\(context.envelope.messageID)\"}".utf8)
            return [OutgoingMessage(envelope: envelope, body: body), OutgoingMessage(envelope: envelope, body: body)]
        }
        guard work.emit == true else { return [] }
        let body = Array("{\"source_message_id\":\"\(context.envelope.messageID)\"}".utf8)
        return [OutgoingMessage(envelope: context.envelope.reply(type: "probe.done", appID: appID), body: body)]
    }
}

/// The probe with a phase outside the transaction (`PROBE_PREPARE_MS`): each message first waits
/// that long asynchronously, as a call to a card processor would, and its effect row records
/// which preparation it got, so a test can see that preparing ran once per message.
///
/// With `PROBE_DEPENDENCY_DOWN_FILE`, the dependency it stands for is down while that file exists:
/// `prepare` throws ``DependencyOutage`` and ``probeDependencies()`` fails, so a test can switch an
/// outage on and off from outside the process. With `PROBE_OUTAGES_PER_MESSAGE=N`, the dependency
/// flaps: the first N preparations of each message meet an outage (the worker requeues the
/// message and pauses), and every probe finds it back, so one message is requeued N times by
/// outages that are not its fault.
struct PreparingProbeHandler: MessageHandler {
    let probe: ProbeHandler
    let delay: Duration
    var dependencyDownFile: String?
    var outagesPerMessage = 0
    /// Preparations met with an outage so far, by message id.
    let outagesMet = OutageCount()

    final class OutageCount: Sendable {
        private let counts = Mutex<[String: Int]>([:])

        /// Counts one more outage for `messageID` unless it has had `limit`; true if it meets one now.
        func meetOutage(_ messageID: String, limit: Int) -> Bool {
            counts.withLock { counts in
                guard counts[messageID, default: 0] < limit else { return false }
                counts[messageID, default: 0] += 1
                return true
            }
        }
    }

    private var dependencyIsDown: Bool {
        dependencyDownFile.map { FileManager.default.fileExists(atPath: $0) } ?? false
    }

    func probeDependencies() async throws {
        if dependencyIsDown { throw DependencyOutage(dependency: "probe dependency", message: "still down") }
    }

    func migrate(_ database: PostgresConnection) throws { try probe.migrate(database) }

    func decode(_ message: IncomingMessage) throws -> ProbeHandler.Work { try probe.decode(message) }

    func prepare(_ work: ProbeHandler.Work, envelope: Envelope, attempts: Int) async throws -> String {
        try await Task.sleep(for: delay)
        if dependencyIsDown { throw DependencyOutage(dependency: "probe dependency", message: "down on purpose") }
        if outagesPerMessage > 0, outagesMet.meetOutage(envelope.messageID, limit: outagesPerMessage) {
            throw DependencyOutage(dependency: "probe dependency", message: "flapping on purpose")
        }
        if work.action == "fail_prepare" {
            throw HandlingFailure.permanent("probe_prepare", "preparing failed on purpose")
        }
        return UUID().uuidString.lowercased()
    }

    func handle(_ work: ProbeHandler.Work, prepared: String, context: HandlerContext) throws -> [OutgoingMessage] {
        try probe.handle(work, preparedBy: prepared, context: context)
    }
}
