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

    /// Whether the relay takes another page at once: the page was full (`taken == limit`) and its
    /// publish got an answer for every row. Rows that failed wait out their backoff
    /// (``OutboxRetry``) before the relay takes them again, so the next page holds newer rows and
    /// a page of rows that cannot be routed never holds back the rest; each row is published at
    /// most once per run, so a broker that refuses everything is not hammered. A publish that
    /// failed as a whole (timeout, lost connection) ends the run.
    static func relayContinues(taken: Int, limit: Int, published: Bool) -> Bool {
        taken == limit && published
    }
}

/// How the relay backs off an outbox row that keeps failing, and when it gives up on it
/// (`outbox.retryMaxDelayMs`, `outbox.parkAfterAttempts`). After its `n`th failure a row waits
/// `base × 2^(n-1)`, at most `maximum`, before the relay takes it again; after `parkAfter`
/// failures it is parked: logged, counted (`commerce_outbox_parked_total`) and left alone until an
/// operator retries it with `commerce outbox retry`. ``Outbox/markFailed(_:retry:)`` applies
/// these rules in its statement, against the row's own count.
struct OutboxRetry: Equatable, Sendable {
    /// The first wait: the relay interval.
    var base: Duration
    var maximum: Duration
    var parkAfter: Int

    /// The wait after the `attempts`th failure (1 for the first).
    func delay(afterAttempts attempts: Int) -> Duration {
        let doublings = min(max(attempts - 1, 0), 30)
        let seconds = min(maximum.seconds, base.seconds * Double(1 << doublings))
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    /// Whether a row that has failed `attempts` times is parked.
    func parks(attempts: Int) -> Bool { attempts >= parkAfter }
}
