/// How long, and how often, the payment worker looks a tombstone's charge up again
/// (`payment.tombstoneRecheckWindowMs`; docs/saga.md, "Races between copies").
///
/// A lookup that finds no charge for an order says only that none had reached the processor
/// yet: the charge request of a copy that died may still be on its way (in a socket buffer, in
/// the processor's queue), and the processor works on it regardless of the caller. The sweeper
/// therefore looks again after `firstDelay`, then after twice as long each time, until `window`
/// has passed since the tombstone was written; a capture it finds is recorded as owed back.
public struct TombstoneRecheck: Sendable, Hashable {
    /// The first lookup's delay after the tombstone; each later one waits twice the previous.
    public var firstDelay: Duration
    /// How long after the tombstone a charge can still arrive: the longest a request to the
    /// processor takes, with room for retries and a slow processor.
    public var window: Duration

    /// Lookups from `firstDelay` on, doubling, for `window` (defaults: 5 s, 10 minutes: lookups
    /// at about 5, 15, 35, 75, 155 and 315 s).
    public init(firstDelay: Duration = .seconds(5), window: Duration = .seconds(600)) {
        self.firstDelay = firstDelay
        self.window = window
    }
}
