import Foundation
import Postgres
import WorkerRuntime

/// The probe worker's handler: a stand-in for a real saga worker that the runtime's integration
/// tests and benchmark drive. Each `probe.work` message says what to do; every message that takes
/// effect writes one row to `probe_effects` (deliberately without a unique key, so a duplicated
/// effect shows up as two rows) and, when asked, emits a `probe.done` event through the outbox.
struct ProbeHandler: MessageHandler {
    /// The body of `probe.work`.
    struct Work: Decodable, Sendable {
        /// `ok`, `fail_transient` (fails while attempts < `failures`), `fail_permanent`, `sleep`.
        var action: String
        var failures: Int?
        var sleepMs: Int?
        var emit: Bool?

        enum CodingKeys: String, CodingKey {
            case action, failures, emit
            case sleepMs = "sleep_ms"
        }
    }

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
        guard ["ok", "fail_transient", "fail_permanent", "sleep"].contains(work.action) else {
            throw HandlingFailure.permanent("schema_violation", "unknown action '\(work.action)'")
        }
        return work
    }

    func handle(_ work: Work, context: HandlerContext) throws -> [OutgoingMessage] {
        switch work.action {
        case "fail_transient" where context.attempts < (work.failures ?? 1):
            throw HandlingFailure.transient("probe_transient", "failing on purpose (attempt \(context.attempts + 1))")
        case "fail_permanent":
            throw HandlingFailure.permanent("probe_permanent", "failing on purpose")
        case "sleep":
            // Stands for a handler blocked on a lock or a slow gateway.
            Thread.sleep(forTimeInterval: Double(work.sleepMs ?? 0) / 1000)
        default:
            break
        }
        try context.database.query(
            "insert into probe_effects (message_id, correlation_id, attempts) values ($1, $2, $3)",
            [.text(context.envelope.messageID), .text(context.envelope.correlationID), .int(Int64(context.attempts))])
        guard work.emit == true else { return [] }
        let body = Array("{\"source_message_id\":\"\(context.envelope.messageID)\"}".utf8)
        return [OutgoingMessage(envelope: context.envelope.reply(type: "probe.done", appID: appID), body: body)]
    }
}
