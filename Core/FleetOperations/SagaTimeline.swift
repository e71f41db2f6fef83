import Foundation
import WorkerRuntime

/// One saga's timeline, put together from the message journals of the fleet's stores and the
/// dead letters still in the dead-letter queues (docs/architecture.md, "The message journal").
///
/// Each step is something one worker copy did with one message: handled it (its effects
/// committed), emitted it, scheduled a retry after a failed attempt, or dead-lettered it. Steps
/// are in time order (a message handled comes before the messages it emitted, which share its
/// commit time); each names the step that caused it: for a message handled or failed, the step
/// that emitted it (none for an upstream command); for a message emitted, the step of the same
/// worker copy that handled its cause. Times come from each worker's clock.
public struct SagaTimeline: Encodable, Sendable {
    public struct Step: Encodable, Sendable {
        public var step: Int
        /// `handled`, `emitted`, `retry_scheduled` or `dead_lettered`.
        public var event: String
        public var type: String
        public var messageId: String
        public var causationId: String?
        /// The step that caused this one, if the timeline holds it.
        public var causedByStep: Int?
        /// ISO 8601, to the millisecond.
        public var at: String
        public var elapsedMs: Int
        public var sincePreviousMs: Int
        /// From the causing step to this one: delivery and queueing, for a message handled.
        public var sinceCauseMs: Int?
        /// From the delivery's arrival at the worker to the commit, for a message handled.
        public var handlingMs: Int?
        public var queue: String
        public var app: String
        public var host: String
        public var pid: Int
        public var version: String
        /// Who sent the message (`app_id`), for a message received.
        public var sender: String?
        /// The attempt this was (1 for the first delivery), for a message received.
        public var attempt: Int?
        public var errorClass: String?
        public var reason: String?
        public var errorMessage: String?
        public var retryDelayMs: Int?
        /// Whether the message is in a dead-letter queue now (read from the queue itself).
        public var inDeadLetterQueue: Bool
        /// The W3C trace id the message travelled in, if it carried a trace context.
        public var traceId: String?
        /// Where the step was read: a store (`orders`, `inventory`, `payments`, `notifications`)
        /// or `dlq` for a dead letter no journal recorded (one the broker made itself, say).
        public var source: String

        public var worker: String { "\(app)@\(host) (pid \(pid))" }
    }

    public var correlationId: String
    /// The trace the saga ran in: the trace id of its first step that carries one (the upstream
    /// command's, as a rule), `nil` when no message carried a trace context.
    public var traceId: String?
    /// Every trace id the saga's messages carried, first seen first: more than one when a later
    /// command (a cancel) started a trace of its own.
    public var traceIds: [String]
    public var steps: [Step]
    /// From the first step to the last.
    public var durationMs: Int

    /// The journal entries of one store, and the name it is shown under.
    public struct Source: Sendable {
        public var name: String
        public var entries: [JournalEntry]

        public init(name: String, entries: [JournalEntry]) {
            self.name = name
            self.entries = entries
        }
    }

    /// The timeline of the saga `correlationID` from the journal entries of `sources` (entries of
    /// other sagas are left out) and `deadLetters` (those of other sagas too).
    public init(correlationID: String, sources: [Source], deadLetters: [DeadLetter]) {
        correlationId = correlationID
        struct Raw {
            var entry: JournalEntry
            var source: String
            var rank: Int
        }
        var raws: [Raw] = []
        for source in sources {
            for entry in source.entries where entry.correlationID == correlationID {
                raws.append(Raw(entry: entry, source: source.name, rank: entry.outcome == .emitted ? 1 : 0))
            }
        }
        // A dead letter a journal recorded is that step, now in its queue; any other one (the
        // broker's own, or one whose journal row was lost) is a step of its own.
        var inQueue = Set<String>()
        for letter in deadLetters where letter.properties.correlationID == correlationID {
            let journaled = raws.contains {
                $0.entry.outcome == .deadLettered && $0.entry.messageID == letter.messageID
                    && $0.entry.queue == letter.originalQueue
            }
            inQueue.insert("\(letter.originalQueue) \(letter.messageID)")
            if journaled { continue }
            let failedBy = letter.failedBy ?? "broker"
            let entry = JournalEntry(
                direction: .incoming, outcome: .deadLettered, messageID: letter.messageID,
                correlationID: correlationID, causationID: letter.properties.headers["causation_id"]?.stringValue,
                type: letter.type, sender: letter.properties.appID, queue: letter.originalQueue, app: failedBy,
                host: "", pid: 0, version: "", attempts: letter.attempts.map { max($0 - 1, 0) },
                committedAt: letter.failedAt ?? Date(), errorClass: letter.errorClass, reason: letter.reason,
                errorMessage: letter.message,
                traceID: JournalEntry.traceID(ofTraceParent: letter.properties.headers["traceparent"]?.stringValue))
            raws.append(Raw(entry: entry, source: "dlq", rank: 0))
        }
        // Stable: equal times keep the handled message before what it emitted.
        let ordered = raws.enumerated().sorted {
            ($0.element.entry.committedAt, $0.element.rank, $0.offset)
                < ($1.element.entry.committedAt, $1.element.rank, $1.offset)
        }.map(\.element)
        let start = ordered.first?.entry.committedAt ?? Date()
        var steps: [Step] = []
        var previous = start
        for (index, raw) in ordered.enumerated() {
            let entry = raw.entry
            let cause: Int?
            if entry.direction == .outgoing {
                // The worker copy's own handling of the message that caused this one.
                cause =
                    steps.last {
                        $0.event == "handled" && $0.messageId == entry.causationID && $0.queue == entry.queue
                    }?.step ?? steps.last { $0.event == "handled" && $0.messageId == entry.causationID }?.step
            } else {
                cause = steps.first { $0.event == "emitted" && $0.messageId == entry.messageID }?.step
            }
            let event: String =
                switch entry.outcome {
                case .applied: "handled"
                case .emitted: "emitted"
                case .retry: "retry_scheduled"
                case .deadLettered: "dead_lettered"
                }
            let causeTime = cause.flatMap { number in ordered[number - 1].entry.committedAt }
            steps.append(
                Step(
                    step: index + 1, event: event, type: entry.type, messageId: entry.messageID,
                    causationId: entry.causationID, causedByStep: cause, at: Timestamp.iso8601(entry.committedAt),
                    elapsedMs: Timestamp.milliseconds(from: start, to: entry.committedAt),
                    sincePreviousMs: Timestamp.milliseconds(from: previous, to: entry.committedAt),
                    sinceCauseMs: causeTime.map { Timestamp.milliseconds(from: $0, to: entry.committedAt) },
                    handlingMs: entry.outcome == .applied
                        ? entry.receivedAt.map { Timestamp.milliseconds(from: $0, to: entry.committedAt) } : nil,
                    queue: entry.queue, app: entry.app, host: entry.host, pid: entry.pid, version: entry.version,
                    sender: entry.direction == .incoming ? entry.sender : nil,
                    attempt: entry.direction == .incoming ? (entry.attempts ?? 0) + 1 : nil,
                    errorClass: entry.errorClass, reason: entry.reason, errorMessage: entry.errorMessage,
                    retryDelayMs: entry.retryDelayMilliseconds,
                    inDeadLetterQueue: entry.outcome == .deadLettered
                        && inQueue.contains("\(entry.queue) \(entry.messageID)"),
                    traceId: entry.traceID, source: raw.source))
            previous = entry.committedAt
        }
        self.steps = steps
        var traces: [String] = []
        for trace in steps.compactMap(\.traceId) where !traces.contains(trace) { traces.append(trace) }
        traceIds = traces
        traceId = traces.first
        durationMs = Timestamp.milliseconds(from: start, to: ordered.last?.entry.committedAt ?? start)
    }
}
