import AMQP
import Testing

@testable import WorkerRuntime

/// The batch loop's settlement rules (docs/architecture.md, "A message's path", steps 8 to 10),
/// from the store's outcomes and the broker's confirms to the ordered actions, without a broker.
@Suite("Settlement: acks, requeues and parked failures after the confirm window")
struct SettlementTests {
    typealias Action = Settlement.Action
    static let unroutable = AMQPConnection.PublishOutcome.returned(replyCode: 312, replyText: "NO_ROUTE")

    @Test("applied and duplicate messages are acked after the confirms; the outbox is finished after the acks")
    func appliedAndDuplicates() {
        let settlement = Settlement(applied: [1, 3], duplicates: [2], outboxCount: 2)
        #expect(
            settlement.plan(publishOutcomes: [.confirmed, Self.unroutable])
                == [
                    .beforeAck, .acknowledge(ack: [1, 3, 2], requeue: []), .countSettled,
                    .finishPublishing(outcomes: [.confirmed, Self.unroutable]),
                ])
    }

    @Test("a failure is acked and counted as parked only once its copy is confirmed, and journaled last")
    func parkedFailure() {
        let settlement = Settlement(applied: [1], failed: [2, 3], outboxCount: 1)
        let plan = settlement.plan(publishOutcomes: [.confirmed, .confirmed, .refused])
        #expect(
            plan == [
                .recordParked(failed: 0), .keepUnparked(failed: 1, outcome: .refused), .beforeAck,
                .acknowledge(ack: [1, 2], requeue: [3]), .countSettled, .finishPublishing(outcomes: [.confirmed]),
                .journalFailures([0]),
            ])
    }

    @Test("a copy the broker returned (unroutable) keeps its original: requeued, never acked, not journaled")
    func returnedCopy() {
        let plan = Settlement(failed: [7]).plan(publishOutcomes: [Self.unroutable])
        #expect(
            plan == [
                .keepUnparked(failed: 0, outcome: Self.unroutable), .beforeAck, .acknowledge(ack: [], requeue: [7]),
                .countSettled, .finishPublishing(outcomes: []),
            ])
    }

    @Test("a publish that failed as a whole acks nothing: the whole batch is requeued, the outbox left for the relay")
    func publishFailed() {
        let settlement = Settlement(applied: [1], duplicates: [2], failed: [3], requeued: [4], outboxCount: 3)
        #expect(
            settlement.plan(publishOutcomes: nil) == [
                .finishPublishing(outcomes: nil), .acknowledge(ack: [], requeue: [1, 2, 3, 4]),
            ])
    }

    @Test("messages that met a dependency outage are requeued with the acks of the rest, no attempt counted")
    func dependencyOutage() {
        let plan = Settlement(applied: [2], requeued: [1, 3]).plan(publishOutcomes: [])
        #expect(plan.contains(.acknowledge(ack: [2], requeue: [1, 3])))
        #expect(!plan.contains { if case .recordParked = $0 { true } else { false } })
    }

    @Test("the ack comes after every parked failure is recorded and before the store hears of its outbox")
    func ordering() {
        let settlement = Settlement(applied: [1], failed: [2, 3, 4], outboxCount: 1)
        let plan = settlement.plan(publishOutcomes: [.confirmed, .confirmed, .confirmed, .confirmed])
        let ack = plan.firstIndex { if case .acknowledge = $0 { true } else { false } }!
        let finish = plan.firstIndex { if case .finishPublishing = $0 { true } else { false } }!
        let lastParked = plan.lastIndex { if case .recordParked = $0 { true } else { false } }!
        #expect(lastParked < ack && ack < finish)
        #expect(plan.last == .journalFailures([0, 1, 2]))
    }

    @Test("every delivery is settled exactly once, whatever the broker answered", arguments: 0..<64)
    func everyDeliverySettledOnce(seed: Int) {
        var random = seed
        func next(_ bound: Int) -> Int {
            random = (random &* 1_103_515_245 &+ 12_345) & 0x7fff_ffff
            return random % bound
        }
        var settlement = Settlement()
        var tag: UInt64 = 0
        for _ in 0..<(1 + next(12)) {
            tag += 1
            switch next(4) {
            case 0: settlement.applied.append(tag)
            case 1: settlement.duplicates.append(tag)
            case 2: settlement.failed.append(tag)
            default: settlement.requeued.append(tag)
            }
        }
        settlement.outboxCount = next(3)
        let answers: [AMQPConnection.PublishOutcome] = [.confirmed, .refused, Self.unroutable]
        let outcomes: [AMQPConnection.PublishOutcome]? =
            next(5) == 0 ? nil : (0..<(settlement.outboxCount + settlement.failed.count)).map { _ in answers[next(3)] }
        let acknowledgements = settlement.plan(publishOutcomes: outcomes).compactMap { action -> [UInt64]? in
            if case .acknowledge(let ack, let requeue) = action { return ack + requeue }
            return nil
        }
        #expect(acknowledgements.count == 1, "one acknowledgement command per batch")
        #expect(acknowledgements.first?.sorted() == settlement.everything.sorted())
    }
}
