import AMQP

/// How a batch is settled once the store is done with it, as a pure plan: which deliveries are
/// acked, which requeued, which failures count as parked in a retry or dead-letter queue, and in
/// which order the consumer does these things relative to the publisher confirms of the batch's
/// one confirm window. ``BatchConsumer`` publishes, then carries the plan out; the plan holds the
/// ordering rules and is unit-tested without a broker (docs/architecture.md, "A message's path",
/// steps 8 to 10).
///
/// The rules:
/// - nothing is acked before the publish of the batch's outbox rows and failure copies returned;
/// - a failed message is acked only if the broker confirmed its retry or dead-letter copy, and is
///   counted (and journaled) as parked only then; otherwise it is requeued, so it is never lost
///   between two queues;
/// - messages that met a dependency outage are requeued as they are;
/// - if the publish failed as a whole, nothing is acked: the whole batch is requeued (on
///   redelivery the store skips what already took effect) and the outbox rows are left for the
///   relay;
/// - the store hears what became of its outbox rows (and deletes the published ones) only after
///   the acks, and failures are journaled last, best effort.
struct Settlement {
    /// One delivery of the batch, by its tag.
    typealias Tag = UInt64

    /// Applied by the store: acked.
    var applied: [Tag] = []
    /// Already applied before: acked.
    var duplicates: [Tag] = []
    /// Failed: acked once their copy is confirmed, requeued otherwise. The copies are published
    /// after the outbox rows, in this order.
    var failed: [Tag] = []
    /// Met a dependency outage: requeued.
    var requeued: [Tag] = []
    /// How many outbox rows were published ahead of the failure copies.
    var outboxCount = 0

    /// One thing the consumer does, in order.
    enum Action: Equatable {
        /// Count and log the failed message at this index of ``failed``: its copy is parked.
        case recordParked(failed: Int)
        /// Log that the copy of the failed message at this index was not confirmed (it is requeued).
        case keepUnparked(failed: Int, outcome: AMQPConnection.PublishOutcome)
        /// The test hook run just before the acks, with the applied messages.
        case beforeAck
        /// One acknowledgement command to the broker link (``BrokerLink/acknowledge(ack:requeue:generation:)``).
        case acknowledge(ack: [Tag], requeue: [Tag])
        /// Count the applied and duplicate messages (and their latency, measured at the ack).
        case countSettled
        /// Tell the store what became of its outbox rows: outcomes by row, or `nil` when the publish
        /// failed as a whole (the rows stay for the relay).
        case finishPublishing(outcomes: [AMQPConnection.PublishOutcome]?)
        /// Journal the parked failures, by index of ``failed``.
        case journalFailures([Int])
    }

    /// Every delivery of the batch, in the order a whole-batch requeue names them.
    var everything: [Tag] { applied + duplicates + failed + requeued }

    /// What to do once the confirm window returned `outcomes` (one per publication, as
    /// ``BrokerLink/publish(_:)`` answers: the outbox rows, then one copy per failed message), or
    /// `nil` when the publish failed as a whole.
    func plan(publishOutcomes outcomes: [AMQPConnection.PublishOutcome]?) -> [Action] {
        guard let outcomes else {
            return [.finishPublishing(outcomes: nil), .acknowledge(ack: [], requeue: everything)]
        }
        var actions: [Action] = []
        var acks = applied + duplicates
        var requeue = requeued
        var parked: [Int] = []
        for (index, outcome) in outcomes.dropFirst(outboxCount).prefix(failed.count).enumerated() {
            if outcome == .confirmed {
                acks.append(failed[index])
                actions.append(.recordParked(failed: index))
                parked.append(index)
            } else {
                actions.append(.keepUnparked(failed: index, outcome: outcome))
                requeue.append(failed[index])
            }
        }
        actions += [
            .beforeAck, .acknowledge(ack: acks, requeue: requeue), .countSettled,
            .finishPublishing(outcomes: Array(outcomes.prefix(outboxCount))),
        ]
        if !parked.isEmpty { actions.append(.journalFailures(parked)) }
        return actions
    }
}
