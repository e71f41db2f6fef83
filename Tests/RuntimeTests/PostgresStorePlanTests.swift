import AMQP
import Testing

@testable import WorkerRuntime

/// The PostgreSQL store's rules outside a batch's transaction, without a server: what a publish
/// means for outbox rows, when the relay takes another page, and when each periodic task is due
/// (docs/architecture.md, "PostgreSQL store").
@Suite("PostgresStore: outbox and maintenance plans")
struct PostgresStorePlanTests {
    @Test("confirmed rows are deleted; refused and returned ones stay for the relay with their error")
    func publishPlan() {
        let plan = OutboxPublishPlan(
            ids: [10, 11, 12],
            outcomes: [.confirmed, .refused, .returned(replyCode: 312, replyText: "NO_ROUTE")])
        #expect(plan.delete == [10])
        #expect(
            plan.markFailed == [
                .init(id: 11, error: "refused by the broker (basic.nack)"),
                .init(id: 12, error: "unroutable: 312 NO_ROUTE"),
            ])
    }

    @Test("the relay takes another page after any full page it could publish, failures or not")
    func relayContinues() {
        #expect(
            OutboxPublishPlan.relayContinues(taken: 256, limit: 256, published: true),
            "rows that failed wait out their backoff, so the next page holds newer rows")
        #expect(!OutboxPublishPlan.relayContinues(taken: 256, limit: 256, published: false), "the publish failed")
        #expect(!OutboxPublishPlan.relayContinues(taken: 12, limit: 256, published: true), "the backlog is drained")
    }

    @Test("a failing outbox row waits the relay interval doubled per failure, capped, and is parked after its budget")
    func outboxRetry() {
        let retry = OutboxRetry(base: .seconds(5), maximum: .seconds(60), parkAfter: 4)
        #expect((1...6).map(retry.delay(afterAttempts:)) == [5, 10, 20, 40, 60, 60].map { .seconds($0) })
        #expect(retry.delay(afterAttempts: 500) == .seconds(60), "no overflow on a row retried for a long time")
        #expect(!retry.parks(attempts: 3))
        #expect(retry.parks(attempts: 4))
    }

    @Test("the relay runs at the first turn; periodic work and retention wait for their interval")
    func firstTurn() {
        let start = ContinuousClock.now
        let schedule = MaintenanceSchedule(
            periodicInterval: .seconds(5), relayInterval: .seconds(1), retentionInterval: .seconds(60), now: start)
        #expect(schedule.relayDue(at: start, final: false, periodicEmitted: false))
        #expect(!schedule.periodicDue(at: start, final: false))
        #expect(!schedule.retentionDue(at: start, final: false))
        #expect(schedule.periodicDue(at: start + .seconds(5), final: false))
        #expect(schedule.retentionDue(at: start + .seconds(60), final: false))
    }

    @Test("after running, a task waits its interval again; periodic work that emitted is relayed at once")
    func intervals() {
        let start = ContinuousClock.now
        var schedule = MaintenanceSchedule(
            periodicInterval: .seconds(5), relayInterval: .seconds(1), retentionInterval: .seconds(60), now: start)
        schedule.ran(.relay, at: start)
        #expect(!schedule.relayDue(at: start + .milliseconds(500), final: false, periodicEmitted: false))
        #expect(schedule.relayDue(at: start + .milliseconds(500), final: false, periodicEmitted: true))
        #expect(schedule.relayDue(at: start + .seconds(1), final: false, periodicEmitted: false))
    }

    @Test("the final call before stopping only relays: no periodic work, no retention")
    func final() {
        let start = ContinuousClock.now
        let schedule = MaintenanceSchedule(
            periodicInterval: .seconds(1), relayInterval: .seconds(1), retentionInterval: .seconds(1),
            now: start - .seconds(3600))
        #expect(schedule.relayDue(at: start, final: true, periodicEmitted: false))
        #expect(!schedule.periodicDue(at: start, final: true))
        #expect(!schedule.retentionDue(at: start, final: true))
    }

    @Test("a handler without periodic work never runs it")
    func noPeriodic() {
        let schedule = MaintenanceSchedule(
            periodicInterval: nil, relayInterval: .seconds(1), retentionInterval: .seconds(1),
            now: .now - .seconds(3600))
        #expect(!schedule.periodicDue(at: .now, final: false))
    }
}
