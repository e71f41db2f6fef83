import CommerceMessages
import Foundation

/// One row of the message journal (docs/architecture.md, "The message journal"): something a
/// worker copy did with one message, written to its own store so that `commerce order show` can
/// put a saga's timeline together across the fleet, wherever its workers ran.
///
/// A message handled gives one `in` row (outcome `applied`) and one `out` row per message it
/// emitted (outcome `emitted`, its causation the handled message's id), all committed with the
/// message's effects. A failed attempt whose retry or dead-letter copy the broker confirmed gives
/// one `in` row with outcome `retry` or `dead_lettered` (written afterwards, best effort).
/// Duplicates the inbox skipped give none.
public struct JournalEntry: Sendable, Hashable, Codable {
    /// `in` for a message this worker received, `out` for one it emitted.
    public enum Direction: String, Sendable, Hashable, Codable {
        case incoming = "in"
        case outgoing = "out"
    }

    /// What became of the message here.
    public enum Outcome: String, Sendable, Hashable, Codable {
        /// Handled: its effects committed.
        case applied
        /// Emitted by a handled message (or by periodic work), committed with its cause's effects.
        case emitted
        /// Failed; its copy waits in a retry queue (``retryDelayMilliseconds``).
        case retry
        /// Failed for good; its copy is in the dead-letter queue.
        case deadLettered = "dead_lettered"
    }

    public var direction: Direction
    public var outcome: Outcome
    public var messageID: String
    public var correlationID: String
    /// The id of the message that caused this one (`nil` for an upstream command).
    public var causationID: String?
    public var type: String
    /// The `app_id` the message carried (who sent it).
    public var sender: String?
    /// The worker queue it was consumed from or emitted by.
    public var queue: String
    /// The worker copy that wrote the row: application, host, process id and version.
    public var app: String
    public var host: String
    public var pid: Int
    public var version: String
    /// Failed attempts before this one (incoming rows only).
    public var attempts: Int?
    /// When the worker's I/O thread read the delivery (incoming rows only).
    public var receivedAt: Date?
    /// When the row was written: just before the commit of the message's effects, or when the
    /// failure's copy was confirmed.
    public var committedAt: Date
    /// `transient` or `permanent` (failures only).
    public var errorClass: String?
    /// The failure's reason (`retries_exhausted` for a transient failure out of attempts).
    public var reason: String?
    public var errorMessage: String?
    /// The retry tier's delay (outcome `retry` only).
    public var retryDelayMilliseconds: Int?
    /// The W3C trace id (32 hex digits) the message travelled in, if it carried a trace context.
    public var traceID: String?

    public init(
        direction: Direction, outcome: Outcome, messageID: String, correlationID: String, causationID: String?,
        type: String, sender: String?, queue: String, app: String, host: String, pid: Int, version: String,
        attempts: Int? = nil, receivedAt: Date? = nil, committedAt: Date, errorClass: String? = nil,
        reason: String? = nil, errorMessage: String? = nil, retryDelayMilliseconds: Int? = nil,
        traceID: String? = nil
    ) {
        self.direction = direction
        self.outcome = outcome
        self.messageID = messageID
        self.correlationID = correlationID
        self.causationID = causationID
        self.type = type
        self.sender = sender
        self.queue = queue
        self.app = app
        self.host = host
        self.pid = pid
        self.version = version
        self.attempts = attempts
        self.receivedAt = receivedAt
        self.committedAt = committedAt
        self.errorClass = errorClass
        self.reason = reason
        self.errorMessage = errorMessage
        self.retryDelayMilliseconds = retryDelayMilliseconds
        self.traceID = traceID
    }

    /// The trace id of a `traceparent` value (`00-<trace id>-<span id>-<flags>`), `nil` for none.
    public static func traceID(ofTraceParent traceParent: String?) -> String? {
        guard let traceParent, traceParent.utf8.count >= 35 else { return nil }
        let start = traceParent.utf8.index(traceParent.utf8.startIndex, offsetBy: 3)
        let end = traceParent.utf8.index(start, offsetBy: 32)
        return String(traceParent[start..<end])
    }
}
