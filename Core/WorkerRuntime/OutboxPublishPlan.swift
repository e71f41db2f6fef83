import AMQP

/// What the broker's answers mean for published outbox rows, as a pure plan that ``PostgresStore``
/// carries out after a batch's publish and in the relay: the confirmed ones are deleted, the
/// others stay unsent (for the relay) with their failure noted.
struct OutboxPublishPlan: Equatable {
    /// Ids of the rows to delete: the broker confirmed them.
    var delete: [Int64] = []
    /// Rows to keep, with what went wrong (`publish_attempts` and `last_error`).
    var markFailed: [Failure] = []

    struct Failure: Equatable {
        var id: Int64
        var error: String
    }

    /// The plan for `ids` published with `outcomes` (one per id, in order).
    init(ids: [Int64], outcomes: [AMQPConnection.PublishOutcome]) {
        for (id, outcome) in zip(ids, outcomes) {
            if outcome == .confirmed {
                delete.append(id)
            } else {
                markFailed.append(Failure(id: id, error: FailureRouter.describe(outcome)))
            }
        }
    }

    /// Whether the relay takes another page at once: the page was full (`taken == limit`) and
    /// every row of it was confirmed. A page with a failure waits for the next run, so a broker
    /// that refuses is not hammered.
    static func relayContinues(taken: Int, limit: Int, deleted: Int) -> Bool {
        taken == limit && deleted == taken
    }
}
