import CommerceMessages
import CommerceSupport
import Foundation

/// The journal writer of one consumer: who it is (queue, application, host, pid, version) and how
/// it turns what happened to a batch into ``JournalEntry`` rows. The stores write the rows:
/// ``PostgresStore`` as one multi-row insert in the closing pipeline of the batch's transaction
/// (``MessageJournal/insertStatement(_:)``), ``DocumentStore`` as one `insertMany` after the
/// batch's documents. See docs/architecture.md, "The message journal".
///
/// Times are the worker's own clock: `received_at` when its I/O thread read the delivery,
/// `committed_at` when the store closed the batch's transaction (or the failure's copy was
/// confirmed). One host's rows are therefore consistent with each other; across hosts they are
/// as close as the hosts' clocks.
public struct MessageJournal: Sendable {
    /// Whether rows are written at all (`journal.enabled`).
    let isEnabled: Bool
    let queue: String
    let app: String
    let host: String
    let pid: Int
    let version: String
    let policy: RecoverabilityPolicy
    let retryDelays: [Duration]

    init(configuration: WorkerConfiguration) {
        isEnabled = configuration.journalEnabled
        queue = configuration.topology.queue
        app = configuration.appID
        host = ProcessInfo.processInfo.hostName
        pid = Int(getpid())
        version = configuration.version
        policy = configuration.recoverability
        retryDelays = configuration.topology.retryDelays
    }

    /// The wall-clock time at which the I/O thread read `incoming` (its `receivedAt` is a
    /// monotonic instant, kept for the latency histogram).
    static func receivedAt(_ incoming: IncomingMessage, now: Date, instant: ContinuousClock.Instant) -> Date {
        now.addingTimeInterval(-(instant - incoming.receivedAt).seconds)
    }

    /// The rows of a committed transaction: one `applied` per message handled, one `emitted` per
    /// message it (or periodic work) emitted.
    func committed(_ applied: [IncomingMessage], emitted: [OutgoingMessage], at now: Date = Date()) -> [JournalEntry] {
        let instant = ContinuousClock.now
        var entries: [JournalEntry] = []
        entries.reserveCapacity(applied.count + emitted.count)
        for incoming in applied {
            let envelope = incoming.envelope
            entries.append(
                JournalEntry(
                    direction: .incoming, outcome: .applied, messageID: envelope.messageID,
                    correlationID: envelope.correlationID, causationID: envelope.causationID, type: envelope.type,
                    sender: envelope.appID, queue: queue, app: app, host: host, pid: pid, version: version,
                    attempts: incoming.attempts, receivedAt: Self.receivedAt(incoming, now: now, instant: instant),
                    committedAt: now, traceID: JournalEntry.traceID(ofTraceParent: envelope.traceParent)))
        }
        for outgoing in emitted {
            let envelope = outgoing.envelope
            entries.append(
                JournalEntry(
                    direction: .outgoing, outcome: .emitted, messageID: envelope.messageID,
                    correlationID: envelope.correlationID, causationID: envelope.causationID, type: envelope.type,
                    sender: envelope.appID, queue: queue, app: app, host: host, pid: pid, version: version,
                    committedAt: now, traceID: JournalEntry.traceID(ofTraceParent: envelope.traceParent)))
        }
        return entries
    }

    /// The rows of failed attempts whose retry or dead-letter copy the broker confirmed, with the
    /// decision of the ``RecoverabilityPolicy`` the ``FailureRouter`` applied. Text that came off
    /// the wire is cleaned of NUL (PostgreSQL refuses it) and cut to a bounded length: a message
    /// admission refused may carry anything.
    func failures(_ parked: [(IncomingMessage, HandlingFailure)], at now: Date = Date()) -> [JournalEntry] {
        let instant = ContinuousClock.now
        return parked.map { incoming, failure in
            let envelope = incoming.envelope
            var entry = JournalEntry(
                direction: .incoming, outcome: .retry, messageID: Self.clean(envelope.messageID),
                correlationID: Self.clean(envelope.correlationID),
                causationID: envelope.causationID.map { Self.clean($0) },
                type: Self.clean(envelope.type), sender: Self.clean(envelope.appID), queue: queue, app: app,
                host: host, pid: pid, version: version, attempts: incoming.attempts,
                receivedAt: Self.receivedAt(incoming, now: now, instant: instant), committedAt: now,
                errorClass: failure.failureClass.rawValue,
                traceID: JournalEntry.traceID(ofTraceParent: envelope.traceParent))
            switch policy.decide(failure, previousAttempts: incoming.attempts) {
            case .retry(let tier, _):
                entry.reason = Self.clean(failure.reason)
                entry.errorMessage = Self.clean(failure.message, limit: 1000)
                entry.retryDelayMilliseconds = Int(retryDelays[tier].milliseconds)
            case .deadLetter(let reason, let message, _):
                entry.outcome = .deadLettered
                entry.reason = Self.clean(reason)
                entry.errorMessage = Self.clean(message, limit: 1000)
            }
            return entry
        }
    }

    /// `text` without NUL characters, at most `limit` characters.
    static func clean(_ text: String, limit: Int = 255) -> String {
        let cleaned = text.contains("\0") ? String(text.unicodeScalars.filter { $0 != "\0" }.map(Character.init)) : text
        return cleaned.count > limit ? String(cleaned.prefix(limit)) : cleaned
    }
}
