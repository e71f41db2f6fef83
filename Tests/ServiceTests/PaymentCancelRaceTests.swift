import CommerceMessages
import CommerceTestKit
import Foundation
import Logging
import Payments
import PaymentsHTTP
import Postgres
import Resilience
import Synchronization
import Testing

@testable import AMQP
@testable import WorkerRuntime

/// A capture is never kept for a cancelled order without a record (docs/saga.md, "Races between
/// copies"): the three sequences in which the payment worker used to drop one, each played
/// deterministically against a real `payment-gateway` process and a real PostgreSQL database,
/// through the runtime's own store (prepare outside the transaction, then apply), and each ending
/// with the processor's books, read through its API, matching the payments ledger.
///
/// The interleavings are forced at two fault-injection points instead of timed sleeps: a gate in
/// front of the processor holds a charge "in flight" until the test opens it, and a table lock
/// on `message_journal` (which every batch writes just before its commit) holds a transaction
/// open with its effects written but not committed.
@Suite("Payment worker: cancellations racing a charge")
struct PaymentCancelRaceTests {
    // MARK: Fixtures

    /// The processor behind a gate: while it is closed, a charge waits before it reaches the
    /// processor (it is in flight as far as everyone else can tell); lookups and refunds pass.
    final class GatedGateway: PaymentGateway {
        private struct State {
            var closed = true
            var waiting: [CheckedContinuation<Void, Never>] = []
        }
        private let base: any PaymentGateway
        private let state = Mutex(State())

        init(_ base: any PaymentGateway) { self.base = base }

        /// Charges waiting at the gate.
        var waiting: Int { state.withLock { $0.waiting.count } }

        /// Lets every waiting charge (and every later one) through.
        func open() {
            let waiting = state.withLock { state in
                state.closed = false
                defer { state.waiting = [] }
                return state.waiting
            }
            for continuation in waiting { continuation.resume() }
        }

        func charge(_ request: ChargeRequest) async throws -> ChargeResult {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let pass = state.withLock { state in
                    if state.closed { state.waiting.append(continuation) }
                    return !state.closed
                }
                if pass { continuation.resume() }
            }
            return try await base.charge(request)
        }
        func refund(_ request: RefundRequest) async throws -> RefundResult { try await base.refund(request) }
        func lookup(idempotencyKey: String) async throws -> ChargeResult? {
            try await base.lookup(idempotencyKey: idempotencyKey)
        }
        func checkHealth() async throws { try await base.checkHealth() }
    }

    /// One consumer of the payment worker: the runtime's PostgreSQL store over a handler. Two
    /// consumers of one process share the handler (and so its memory of cancellations); two
    /// processes have a handler each.
    final class Consumer: @unchecked Sendable {
        let store: PostgresStore<PaymentHandler>

        init(_ handler: PaymentHandler, databaseURL: String, name: String) throws {
            var configuration = WorkerConfiguration(
                appID: "payment-worker", queue: "payments", bindings: [], databaseURL: databaseURL)
            configuration.consumerName = "payments"
            store = PostgresStore(
                configuration: configuration, handler: handler, logger: Logger(label: name),
                metrics: WorkerMetrics(queue: "payments", knownTypes: []))
            try store.connect()
        }

        deinit { store.disconnect() }

        /// The phase outside the transaction; fails the test if it failed.
        func prepare(_ message: IncomingMessage) throws -> [PendingMessage<PostgresStore<PaymentHandler>.Work>] {
            let (batch, failure) = try prepareOrFail(message)
            #expect(failure == nil, "prepare failed: \(String(describing: failure))")
            return batch
        }

        /// The phase outside the transaction, and its failure if it failed.
        func prepareOrFail(_ message: IncomingMessage) throws -> (
            [PendingMessage<PostgresStore<PaymentHandler>.Work>], HandlingFailure?
        ) {
            var batch = [PendingMessage(incoming: message, work: try store.work(for: message))]
            let failures = store.prepare(&batch)
            return (batch, failures[0])
        }

        /// The batch's transaction: one outcome per message.
        func apply(_ batch: [PendingMessage<PostgresStore<PaymentHandler>.Work>]) throws -> [MessageOutcome] {
            try store.apply(batch).outcomes
        }

        /// Prepare, then apply.
        func process(_ message: IncomingMessage) throws -> (PaymentPreparation?, MessageOutcome) {
            let batch = try prepare(message)
            return (batch[0].work.prepared, try apply(batch)[0])
        }
    }

    /// Runs `body` on a thread of its own (the store's calls block), to be joined later. The
    /// test's thread touches nothing `body` uses until ``join()`` returns (the semaphore orders
    /// the two), hence `@unchecked`.
    final class Background<T>: @unchecked Sendable {
        private let done = DispatchSemaphore(value: 0)
        private var result: Result<T, any Error>?
        private let body: () throws -> T

        init(_ body: @escaping () throws -> T) {
            self.body = body
            Thread.detachNewThread { [self] in
                result = Result { try self.body() }
                done.signal()
            }
        }

        func join() throws -> T {
            guard done.wait(timeout: .now() + 60) == .success, let result else {
                Issue.record("a background step did not finish within 60 s")
                throw CancellationError()
            }
            return try result.get()
        }
    }

    /// What every test needs: a gateway process, the adapter to it behind a gate, and a payments
    /// database of the test's own.
    struct World {
        let gateway: GatewayProcess
        let gatewayDatabase: TestDatabase
        let paymentsDatabase: TestDatabase
        let adapter: HTTPPaymentGateway
        let gated: GatedGateway
        let orderID = "order-\(UUID().uuidString.lowercased())"

        init(_ name: String) throws {
            gatewayDatabase = try TestDatabase(prefix: "gw")
            paymentsDatabase = try TestDatabase(prefix: "gw")
            gateway = try GatewayProcess(databaseURL: gatewayDatabase.url, name: name)
            adapter = HTTPPaymentGateway(
                configuration: .init(baseURL: gateway.baseURL, apiKey: gateway.apiKey), logger: Logger(label: name))
            gated = GatedGateway(adapter)
        }

        /// A handler of its own: one process's memory of cancellations. `recheck`: how its sweeper
        /// looks tombstones up again.
        func handler(recheck: TombstoneRecheck = TombstoneRecheck()) -> PaymentHandler {
            PaymentHandler(gateway: gated, refundSweepInterval: nil, tombstoneRecheck: recheck)
        }

        func consumer(_ handler: PaymentHandler, _ name: String) throws -> Consumer {
            try Consumer(handler, databaseURL: paymentsDatabase.url, name: name)
        }

        var reserved: StockReserved { reserved(token: "tok_approve") }

        func reserved(token: String) -> StockReserved {
            StockReserved(
                orderID: orderID, customerID: "customer-1", lines: [StockLine(sku: "SKU-1", quantity: 1)],
                currency: .krw, amount: 25_000, paymentToken: token)
        }

        /// The status of a lookup of the order's charge key, straight from the API.
        func lookupStatus() async throws -> Int {
            try await gateway.send(
                .GET, "/v1/charges?idempotency_key=\(ChargeRequest.idempotencyKey(orderID: orderID))"
            ).status
        }

        var cancelled: OrderCancelled {
            OrderCancelled(
                orderID: orderID, customer: Customer(id: "customer-1", email: "customer@example.com"), currency: .krw,
                amounts: PriceBreakdown(
                    subtotal: 25_000, couponDiscount: 0, membershipDiscount: 0, shippingFee: 0, total: 25_000),
                reason: .customerRequest, message: "changed my mind", previousStatus: .pending)
        }

        func connect() throws -> PostgresConnection { try TestServers.postgres(url: paymentsDatabase.url) }

        /// The order's `payments.status`.
        func status() throws -> String? {
            try connect().query("select status from payments where order_id = $1", [.text(orderID)]).rows.first?
                .text("status")
        }

        /// The order's ledger, oldest first.
        func ledger() throws -> [String] {
            try connect().query(
                "select kind from payment_ledger where order_id = $1 order by id", [.text(orderID)]
            ).rows.map { try $0.string("kind") }
        }

        /// What the processor kept of the order's charge (captured − refunded), read through its
        /// API as a reconciliation would; 0 when it holds no capture.
        func processorKept() async throws -> Int {
            guard
                case .captured(let chargeID)? = try await adapter.lookup(
                    idempotencyKey: ChargeRequest.idempotencyKey(orderID: orderID))
            else { return 0 }
            let answer = try await gateway.send(.GET, "/v1/charges/\(chargeID)")
            #expect(answer.status == 200, "\(answer.body)")
            return (answer.json["amount"] as? Int ?? 0) - (answer.json["amount_refunded"] as? Int ?? 0)
        }

        /// What the payments ledger says was kept (captures − refunds).
        func ledgerKept() throws -> Int {
            Int(try PaymentsAudit.netCaptured(try connect())[orderID] ?? 0)
        }

        /// Sessions of this test's payments database waiting for a lock.
        func lockWaiters() throws -> Int64 {
            try TestServers.postgres().query(
                "select count(*) as n from pg_stat_activity where datname = $1 and wait_event_type = 'Lock'",
                [.text(paymentsDatabase.name)]
            ).rows[0].int("n")
        }

        /// The end of every sequence: the capture is recorded as owed back, and the sweeper
        /// refunds it.
        func sweep(_ consumer: Consumer) throws {
            #expect(try status() == "refund_due")
            #expect(try ledger() == ["capture"])
            #expect(try consumer.store.runPeriodic(), "the sweeper emitted payment.refunded")
            #expect(try status() == "refunded")
            #expect(try ledger() == ["capture", "refund"])
        }

        /// The processor's books and the ledger agree that nothing was kept for the cancelled
        /// order; then the adapter is closed.
        func reconcileAndClose() async throws {
            #expect(try await processorKept() == 0)
            #expect(try ledgerKept() == 0)
            try await adapter.shutdown()
        }
    }

    /// A delivery of `message` under `messageID`, as the runtime reads it off the broker.
    private static func delivery(
        _ message: some ContractMessage, messageID: String, attempts: Int = 0, redelivered: Bool = false
    ) -> IncomingMessage {
        var envelope = message.envelope(appID: "test")
        envelope.messageID = messageID
        let outgoing = OutgoingMessage(envelope: envelope, body: message.encodedBody())
        let topology = Topology(queue: "payments", bindings: [])
        var incoming = IncomingMessage(
            delivery: AMQPDelivery(
                channel: 1, deliveryTag: 1, redelivered: redelivered, exchange: topology.exchange,
                routingKey: envelope.type, consumerTag: "test", properties: outgoing.properties, body: outgoing.body),
            generation: 0, topology: topology, brokerUser: "commerce")
        incoming.attempts = attempts
        return incoming
    }

    private static func isFailure(_ outcome: MessageOutcome, reason: String) -> Bool {
        if case .failed(let failure) = outcome { return failure.reason == reason }
        return false
    }

    // MARK: The three sequences

    @Test(
        "two consumers of one process: the charge's insert loses to the uncommitted tombstone, and its retry, prepared from the process's memory of the cancellation, still records the capture as refund_due"
    )
    func twoConsumersOfOneProcess() async throws {
        let world = try await offThePool { try World("race-consumers") }
        try await offThePool {
            let handler = world.handler()
            let k1 = try world.consumer(handler, "k1")
            let k2 = try world.consumer(handler, "k2")
            let reservedID = Envelope.newMessageID()

            // K2's charge is in flight.
            let k2Prepared = Background { try k2.prepare(Self.delivery(world.reserved, messageID: reservedID)) }
            try waitUntil("K2's charge at the gate", { world.gated.waiting }) { $0 == 1 }

            // K1 prepares the cancellation: the processor holds no capture yet.
            let cancel = try k1.prepare(Self.delivery(world.cancelled, messageID: Envelope.newMessageID()))
            #expect(cancel[0].work.prepared == .nothingCaptured)

            // K1's transaction writes the tombstone and then waits, uncommitted, at the journal.
            let hold = try world.connect()
            try hold.query("begin")
            try hold.query("lock table message_journal in share mode")
            let k1Applied = Background { try k1.apply(cancel) }
            try waitUntil("K1 to wait at the journal", { try world.lockWaiters() }) { $0 == 1 }

            // K2's capture returns; its insert waits on K1's uncommitted tombstone.
            world.gated.open()
            let charged = try k2Prepared.join()
            guard case .charge(.captured)? = charged[0].work.prepared else {
                Issue.record("K2's charge was not captured: \(String(describing: charged[0].work.prepared))")
                return
            }
            let k2Applied = Background { try k2.apply(charged) }
            try waitUntil("K2's insert to wait on the tombstone", { try world.lockWaiters() }) { $0 == 2 }

            // K1 commits; K2 finds the row taken and fails with payment_raced, to be retried.
            try hold.query("commit")
            #expect(try k1Applied.join().count == 1)
            let raced = try k2Applied.join()
            #expect(Self.isFailure(raced[0], reason: "payment_raced"), "\(raced)")
            #expect(try world.status() == "cancelled")

            // The retry is prepared by the process that knows the order cancelled.
            let (prepared, outcome) = try k2.process(Self.delivery(world.reserved, messageID: reservedID, attempts: 1))
            guard case .capturedAfterCancel? = prepared, case .applied = outcome else {
                Issue.record("the retry did not find the capture: prepared \(String(describing: prepared)), \(outcome)")
                return
            }
            try world.sweep(k2)
        }
        try await world.reconcileAndClose()
    }

    @Test(
        "the copy that captured is killed before it commits, and the redelivery lands on the copy that handled the cancellation: recorded refund_due"
    )
    func redeliveryToTheCopyThatCancelled() async throws {
        let world = try await offThePool { try World("race-killed") }
        try await offThePool {
            let a = try world.consumer(world.handler(), "copy-a")
            let b = try world.consumer(world.handler(), "copy-b")
            let reservedID = Envelope.newMessageID()

            // Copy A's charge is in flight while copy B handles the cancellation.
            let aPrepared = Background { try a.prepare(Self.delivery(world.reserved, messageID: reservedID)) }
            try waitUntil("A's charge at the gate", { world.gated.waiting }) { $0 == 1 }
            let (cancelPrepared, cancelOutcome) = try b.process(
                Self.delivery(world.cancelled, messageID: Envelope.newMessageID()))
            #expect(cancelPrepared == .nothingCaptured)
            guard case .applied = cancelOutcome else {
                Issue.record("the cancellation was not applied: \(cancelOutcome)")
                return
            }
            #expect(try world.status() == "cancelled")

            // The processor captures; copy A dies before its transaction (its connection goes too).
            world.gated.open()
            guard case .charge(.captured)? = try aPrepared.join()[0].work.prepared else {
                Issue.record("A's charge was not captured")
                return
            }
            a.store.disconnect()

            // The broker redelivers the message to copy B.
            let (prepared, outcome) = try b.process(
                Self.delivery(world.reserved, messageID: reservedID, redelivered: true))
            guard case .capturedAfterCancel? = prepared, case .applied = outcome else {
                Issue.record("B did not find A's capture: prepared \(String(describing: prepared)), \(outcome)")
                return
            }
            try world.sweep(b)
        }
        try await world.reconcileAndClose()
    }

    @Test(
        "two deliveries of one message id on two processes: the one that knows of the cancellation commits first, and the other's capture, now an inbox duplicate, is recorded refund_due"
    )
    func duplicateDeliveryOnTwoProcesses() async throws {
        let world = try await offThePool { try World("race-duplicate") }
        try await offThePool {
            let knowing = try world.consumer(world.handler(), "p1")
            let unaware = try world.consumer(world.handler(), "p2")
            let reservedID = Envelope.newMessageID()

            let (cancelPrepared, _) = try knowing.process(
                Self.delivery(world.cancelled, messageID: Envelope.newMessageID()))
            #expect(cancelPrepared == .nothingCaptured)

            // P2 has not seen the cancellation: its charge is in flight.
            let p2Prepared = Background { try unaware.prepare(Self.delivery(world.reserved, messageID: reservedID)) }
            try waitUntil("P2's charge at the gate", { world.gated.waiting }) { $0 == 1 }

            // P1 gets the same message id (an outbox republish), finds nothing captured, commits it.
            let (prepared, outcome) = try knowing.process(Self.delivery(world.reserved, messageID: reservedID))
            #expect(prepared == .cancelledBeforeCharge)
            guard case .applied = outcome else {
                Issue.record("P1's delivery was not applied: \(outcome)")
                return
            }

            // P2's capture returns; its message is now a duplicate in the inbox.
            world.gated.open()
            let charged = try p2Prepared.join()
            guard case .charge(.captured)? = charged[0].work.prepared else {
                Issue.record("P2's charge was not captured")
                return
            }
            let outcomes = try unaware.apply(charged)
            guard case .duplicate = outcomes[0] else {
                Issue.record("P2's delivery should be a duplicate: \(outcomes)")
                return
            }
            try world.sweep(unaware)
        }
        try await world.reconcileAndClose()
    }

    @Test(
        "the copy that sent the charge dies while the processor is still working on it: the copy that cancelled is told the charge is in progress, not that there is none, and records the capture once it is answered"
    )
    func chargeStillInsideTheProcessor() async throws {
        let world = try await offThePool { try World("race-in-flight") }
        world.gated.open()
        let copy = try world.consumer(world.handler(), "copy-b")
        // Long enough that the redelivery below is handled while the processor is at it, even on a
        // loaded machine.
        let reserved = world.reserved(token: "tok_slow_12000")
        let reservedID = Envelope.newMessageID()
        try await offThePool {
            let (prepared, _) = try copy.process(Self.delivery(world.cancelled, messageID: Envelope.newMessageID()))
            #expect(prepared == .nothingCaptured)
        }

        // The dying copy's charge: the processor takes 12 s over it, and the caller goes away.
        let dying = HTTPPaymentGateway(
            configuration: .init(baseURL: world.gateway.baseURL, apiKey: world.gateway.apiKey),
            logger: Logger(label: "dying-copy"))
        let request = ChargeRequest(
            orderID: world.orderID, amount: reserved.amount, currency: .krw, paymentToken: reserved.paymentToken,
            idempotencyKey: ChargeRequest.idempotencyKey(orderID: world.orderID))
        let charge = Task { try await dying.charge(request) }
        var status = 0
        for _ in 0..<100 where status != 409 {
            try await Task.sleep(for: .milliseconds(20))
            status = try await world.lookupStatus()
        }
        #expect(status == 409, "the charge is in progress at the processor")
        charge.cancel()
        _ = await charge.result
        try await dying.shutdown()

        // The redelivery lands on the copy that handled the cancellation while the processor is
        // still at it: a transient failure, to be retried, not "nothing was captured".
        try await offThePool {
            let (_, failure) = try copy.prepareOrFail(Self.delivery(reserved, messageID: reservedID, redelivered: true))
            #expect(failure?.reason == "gateway_unavailable", "\(String(describing: failure))")
        }
        for _ in 0..<300 where status != 200 {
            try await Task.sleep(for: .milliseconds(100))
            status = try await world.lookupStatus()
        }
        #expect(status == 200, "the processor finished the dead copy's charge")

        // The retry finds the capture.
        try await offThePool {
            let (prepared, outcome) = try copy.process(Self.delivery(reserved, messageID: reservedID, attempts: 1))
            guard case .capturedAfterCancel? = prepared, case .applied = outcome else {
                Issue.record("the retry did not find the capture: \(String(describing: prepared)), \(outcome)")
                return
            }
            try world.sweep(copy)
        }
        try await world.reconcileAndClose()
    }

    @Test(
        "a charge that reaches the processor after the lookup that found none (the dying copy's request was still on its way) is found by the sweeper's next look at the tombstone, recorded as owed back and refunded"
    )
    func chargeArrivingAfterTheLookup() async throws {
        let world = try await offThePool { try World("race-late-charge") }
        world.gated.open()
        let copy = try world.consumer(
            world.handler(recheck: TombstoneRecheck(firstDelay: .zero, window: .seconds(60))), "copy-b")
        let reservedID = Envelope.newMessageID()
        try await offThePool {
            // The copy handles the cancellation, then the redelivered stock.reserved: the processor
            // has seen no charge, so it charges nothing and keeps its tombstone.
            let (cancelPrepared, _) = try copy.process(
                Self.delivery(world.cancelled, messageID: Envelope.newMessageID()))
            #expect(cancelPrepared == .nothingCaptured)
            let (prepared, outcome) = try copy.process(
                Self.delivery(world.reserved, messageID: reservedID, redelivered: true))
            #expect(prepared == .cancelledBeforeCharge)
            guard case .applied = outcome else {
                Issue.record("the redelivery was not applied: \(outcome)")
                return
            }
            #expect(try world.status() == "cancelled")
        }

        // Only now does the dead copy's charge reach the processor, which captures it.
        let late = try await world.adapter.charge(
            ChargeRequest(
                orderID: world.orderID, amount: world.reserved.amount, currency: .krw, paymentToken: "tok_approve",
                idempotencyKey: ChargeRequest.idempotencyKey(orderID: world.orderID)))
        guard case .captured = late else {
            Issue.record("the late charge was not captured: \(late)")
            return
        }

        try await offThePool {
            // The sweeper looks the tombstone's charge up again and records the capture as owed
            // back; its next run refunds it.
            #expect(try copy.store.runPeriodic() == false, "recording refund_due emits nothing")
            try world.sweep(copy)
        }
        try await world.reconcileAndClose()
    }

    @Test(
        "a tombstone whose charge never comes is looked up again at doubling delays, and no more once its window has passed"
    )
    func tombstoneRecheckedUntilItsWindowEnds() async throws {
        let world = try await offThePool { try World("race-no-charge") }
        world.gated.open()
        let copy = try world.consumer(
            world.handler(recheck: TombstoneRecheck(firstDelay: .milliseconds(200), window: .seconds(2))), "copy-b")
        try await offThePool {
            _ = try copy.process(Self.delivery(world.cancelled, messageID: Envelope.newMessageID()))
            func schedule() throws -> (rechecks: Int64, scheduled: Bool) {
                let row = try world.connect().query(
                    "select rechecks, recheck_at is not null as scheduled from payments where order_id = $1",
                    [.text(world.orderID)]
                ).rows[0]
                return (try row.int("rechecks"), try row.bool("scheduled"))
            }
            #expect(try schedule().scheduled, "the tombstone has a lookup scheduled")
            // Lookups 0.2 s after the tombstone, then 0.4 s and 0.8 s after the one before; the next
            // would wait 1.6 s, past the 2 s window. The sweeper runs far more often than that (as
            // it would with many tombstones), and still looks this one up only when it is due.
            // How many lookups fit depends on how late the first sweep comes on a loaded machine:
            // one to three; never more.
            var lookups: [ContinuousClock.Instant] = []
            let deadline = ContinuousClock.now + .seconds(20)
            while try schedule().scheduled, ContinuousClock.now < deadline {
                let before = try schedule().rechecks
                _ = try copy.store.runPeriodic()
                if try schedule().rechecks > before { lookups.append(.now) }
                Thread.sleep(forTimeInterval: 0.05)
            }
            let final = try schedule()
            #expect(!final.scheduled, "no lookup is scheduled once the window has passed")
            #expect((1...3).contains(final.rechecks), "looked up \(final.rechecks) time(s)")
            #expect(Int64(lookups.count) == final.rechecks)
            for (index, pair) in zip(lookups, lookups.dropFirst()).enumerated() {
                // The database's clock and the test's differ by a round trip: 60 ms of slack.
                let delay = Duration.milliseconds(200 * (1 << (index + 1)) - 60)
                #expect(pair.1 - pair.0 >= delay, "lookup \(index + 2) came \(pair.1 - pair.0) after the one before")
            }
            #expect(try world.status() == "cancelled")
            #expect(try world.ledger().isEmpty)
        }
        try await world.reconcileAndClose()
    }
}
