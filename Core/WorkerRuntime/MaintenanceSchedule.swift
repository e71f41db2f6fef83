/// When the store's work between batches is due: the handler's periodic work, the outbox relay
/// and retention, each on its own interval. Pure: given the clock, it says what to run; the store
/// runs it and reports back with ``ran(_:at:)``.
struct MaintenanceSchedule: Equatable {
    enum Task: Equatable {
        /// The handler's ``MessageHandler/periodic(context:)`` (a sweeper).
        case periodic
        /// The outbox relay.
        case relay
        /// Retention of the inbox and the journal.
        case retention
    }

    var periodicInterval: Duration?
    var relayInterval: Duration
    var retentionInterval: Duration
    var lastPeriodic: ContinuousClock.Instant
    /// Starts an hour back, so the relay runs at the first turn of the loop (rows a crashed
    /// predecessor left are published at once).
    var lastRelay: ContinuousClock.Instant
    var lastRetention: ContinuousClock.Instant

    init(
        periodicInterval: Duration?, relayInterval: Duration, retentionInterval: Duration,
        now: ContinuousClock.Instant = .now
    ) {
        self.periodicInterval = periodicInterval
        self.relayInterval = relayInterval
        self.retentionInterval = retentionInterval
        lastPeriodic = now
        lastRelay = now - .seconds(3600)
        lastRetention = now
    }

    /// Whether the handler's periodic work is due. Never on the final call (the consumer is
    /// stopping: it only publishes what it left).
    func periodicDue(at now: ContinuousClock.Instant, final: Bool) -> Bool {
        guard !final, let interval = periodicInterval else { return false }
        return now - lastPeriodic >= interval
    }

    /// Whether the relay is due: always on the final call, right after periodic work that emitted
    /// something (its rows are this consumer's own: published at once), else on its interval.
    func relayDue(at now: ContinuousClock.Instant, final: Bool, periodicEmitted: Bool) -> Bool {
        final || periodicEmitted || now - lastRelay >= relayInterval
    }

    /// Whether retention is due; never on the final call.
    func retentionDue(at now: ContinuousClock.Instant, final: Bool) -> Bool {
        !final && now - lastRetention >= retentionInterval
    }

    /// Notes that `task` started at `now`.
    mutating func ran(_ task: Task, at now: ContinuousClock.Instant) {
        switch task {
        case .periodic: lastPeriodic = now
        case .relay: lastRelay = now
        case .retention: lastRetention = now
        }
    }
}
