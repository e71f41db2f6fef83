import AMQP
import CommerceDomain
import CommerceMessages
import CommerceTestKit
import Foundation
import Postgres
import Testing
import WorkerRuntime

/// Who may send what (docs/security.md), against the real broker: the parties' users that
/// `scripts/services.sh up` creates, their topic permissions, and the order-worker's check of
/// `user_id` on arrival.
@Suite("Trust boundaries")
struct TrustBoundaryTests {
    /// Publishes `message` as `connection`'s user, through `exchange` with `routingKey`, and
    /// waits for the broker's answer: the confirm outcomes, or the error that closed the channel.
    private func publish(
        _ message: some ContractMessage, on connection: AMQPConnection, exchange: String, routingKey: String,
        headers: AMQPTable = [:], userID: String? = nil
    ) throws -> Result<[UInt64: AMQPConnection.PublishOutcome], AMQPError> {
        let channel = try connection.openChannel()
        try connection.enableConfirms(channel: channel)
        let type = type(of: message).messageType.rawValue
        let properties = AMQPProperties(
            contentType: "application/json", headers: headers, deliveryMode: 2, correlationID: message.orderID,
            messageID: Envelope.newMessageID(), timestamp: UInt64(Date().timeIntervalSince1970), type: type,
            userID: userID, appID: "trust-test")
        do {
            try connection.publish(
                channel: channel, exchange: exchange, routingKey: routingKey, properties: properties,
                body: message.encodedBody())
            let outcomes = try connection.waitForConfirms(channel: channel, timeout: .seconds(10))
            connection.closeChannel(channel)
            return .success(outcomes)
        } catch {
            return .failure(error)
        }
    }

    /// Declares the fleet's exchange as every worker and `commerce setup` declare it (durable
    /// topic; a no-op when it exists): topic permissions name it, so the broker's refusal can only
    /// be seen on it. Nothing published by these tests is routed: the broker refuses it first.
    private func ensureFleetExchange() throws {
        let admin = try TestServers.amqp("trust-test setup")
        defer { admin.close() }
        let channel = try admin.openChannel()
        try admin.declareExchange(channel: channel, name: FleetCatalog.exchange, type: "topic", durable: true)
    }

    private static let forgedPayment = PaymentSucceeded(
        orderID: UUID().uuidString.lowercased(), paymentID: "ch_forged", currency: .krw, amount: 1)

    @Test("upstream credentials cannot publish payment.succeeded: the broker refuses it by topic permission")
    func upstreamCannotPublishPaymentEvents() throws {
        try ensureFleetExchange()
        let upstream = try TestServers.amqp("trust-test upstream", user: "upstream")
        defer { upstream.close() }
        // Refused before routing, so nothing reaches any queue bound to the shared exchange.
        let refused = try publish(
            Self.forgedPayment, on: upstream, exchange: FleetCatalog.exchange, routingKey: "payment.succeeded")
        guard case .failure(let error) = refused else {
            Issue.record("the broker accepted payment.succeeded from upstream: \(refused)")
            return
        }
        #expect(error.replyCode == 403, "\(error)")
        #expect(error.message.contains("topic 'payment.succeeded'"), "\(error)")

        // Nor through the default exchange, straight into a worker's queue.
        let direct = try publish(Self.forgedPayment, on: upstream, exchange: "", routingKey: "order-worker")
        guard case .failure(let directError) = direct else {
            Issue.record("the broker accepted a default-exchange publish from upstream: \(direct)")
            return
        }
        #expect(directError.replyCode == 403, "\(directError)")
        #expect(directError.message.contains("amq.default"), "\(directError)")
    }

    @Test("upstream binds a queue of its own to the terminal events, and to nothing else")
    func upstreamBindsOnlyTerminalEvents() throws {
        try ensureFleetExchange()
        let upstream = try TestServers.amqp("trust-test upstream binds", user: "upstream")
        defer { upstream.close() }
        var channel = try upstream.openChannel()
        let queue = "upstream.\(TestServers.uniqueName("trust"))"
        try upstream.declareQueue(channel: channel, name: queue, durable: false, exclusive: true, autoDelete: true)
        try upstream.bindQueue(
            channel: channel, queue: queue, exchange: FleetCatalog.exchange, routingKey: "order.confirmed")
        let refused = #expect(throws: AMQPError.self) {
            try upstream.bindQueue(
                channel: channel, queue: queue, exchange: FleetCatalog.exchange, routingKey: "payment.succeeded")
        }
        #expect(refused?.replyCode == 403, "\(String(describing: refused))")
        // A queue outside its `upstream.` names is refused too.
        channel = try upstream.openChannel()
        let outside = #expect(throws: AMQPError.self) {
            try upstream.declareQueue(
                channel: channel, name: TestServers.uniqueName("storefront"), durable: false, exclusive: true,
                autoDelete: true)
        }
        #expect(outside?.replyCode == 403, "\(String(describing: outside))")
    }

    @Test("a stock-worker's user cannot publish payment.succeeded on the exchange either")
    func stockWorkerCannotPublishPaymentEvents() throws {
        try ensureFleetExchange()
        let stock = try TestServers.amqp("trust-test stock-worker", user: "stock-worker")
        defer { stock.close() }
        let refused = try publish(
            Self.forgedPayment, on: stock, exchange: FleetCatalog.exchange, routingKey: "payment.succeeded")
        guard case .failure(let error) = refused else {
            Issue.record("the broker accepted payment.succeeded from the stock-worker's user: \(refused)")
            return
        }
        #expect(error.replyCode == 403, "\(error)")
    }

    @Test("every publish carries the connection's user as user_id, whatever the properties say")
    func userIDIsTheConnectionsUser() throws {
        let amqp = try TestServers.amqp("trust-test user_id")
        defer { amqp.close() }
        let channel = try amqp.openChannel()
        let queue = TestServers.uniqueName("trust-user-id")
        try amqp.declareQueue(channel: channel, name: queue, durable: false, exclusive: true, autoDelete: true)
        // A copy of a message received from someone else (a retry, a replayed dead letter) still
        // holds its first sender's user_id: RabbitMQ would close the channel on it.
        let outcome = try publish(
            Self.forgedPayment, on: amqp, exchange: "", routingKey: queue, userID: "payment-worker")
        #expect((try? outcome.get())?.values.allSatisfy { $0 == .confirmed } == true, "\(outcome)")
        let delivery = try waitUntil("the message on \(queue)", { try amqp.get(channel: channel, queue: queue) }) {
            $0 != nil
        }
        #expect(delivery?.properties.userID == amqp.configuration.username)
    }

    @Test(
        "a payment.succeeded from the stock-worker's user is dead-lettered forbidden_sender with no effect, forged x-death or not; the payment-worker's confirms the order"
    )
    func forbiddenSenderDeadLettered() throws {
        let fixture = try ServiceFixture(watching: [.orderPlaced, .orderConfirmed, .orderCancelled])
        // The worker connects as the test user; the senders it believes are the catalog's
        // defaults, the users scripts/services.sh makes.
        let worker = try fixture.startWorker("order-worker")
        let queue = "order-worker-\(fixture.suffix)"
        let command = PlaceOrder(
            orderID: UUID().uuidString.lowercased(),
            customer: Customer(id: "c-1001", email: "kim@example.com", membership: nil),
            items: [OrderLine(sku: "KB-001", name: "Keyboard", quantity: 1, unitPrice: 45_000)],
            shippingAddress: ShippingAddress(
                street: "Teheran-ro 123", city: "Seoul", postalCode: "06234", country: "KR", detail: nil),
            paymentToken: "tok_decline", couponCode: nil)
        try fixture.publish(command)
        let placedEvents = try fixture.events(1)
        guard case .orderPlaced(let placed)? = placedEvents.first else {
            Issue.record("expected order.placed, got \(placedEvents)")
            return
        }

        // The stock-worker's user may reach the order-worker's queue through the default exchange
        // (it needs the default exchange for its own retries); only the worker's check stops it.
        let stock = try TestServers.amqp("trust-test stock-worker", user: "stock-worker")
        defer { stock.close() }
        let reserved = try publish(StockReserved(reserving: placed), on: stock, exchange: "", routingKey: queue)
        #expect((try? reserved.get())?.values.allSatisfy { $0 == .confirmed } == true, "\(reserved)")
        let forged = PaymentSucceeded(
            orderID: placed.orderID, paymentID: "ch_forged", currency: placed.currency, amount: placed.amounts.total)
        let plain = try publish(forged, on: stock, exchange: "", routingKey: queue)
        // The same, dressed as a return from the worker's own retry queue.
        let death: AMQPTable = ["queue": .string("\(queue).retry.300ms"), "reason": "expired", "count": 1]
        let disguised = try publish(
            forged, on: stock, exchange: "", routingKey: queue,
            headers: [
                "x-death": .array([.table(death)]), "x-attempts": 2, "x-original-routing-key": "payment.succeeded",
            ])
        for outcome in [plain, disguised] {
            #expect((try? outcome.get())?.values.allSatisfy { $0 == .confirmed } == true, "\(outcome)")
        }

        var letters: [AMQPDelivery] = []
        try waitUntil(
            "two dead letters on \(queue).dlq", timeout: .seconds(30),
            {
                letters += try fixture.deadLetters(of: "order-worker")
                return letters.count
            }
        ) { $0 >= 2 }
        #expect(letters.count == 2)
        for letter in letters {
            let headers = letter.properties.headers
            #expect(headers[DeadLetterHeader.errorReason]?.stringValue == "forbidden_sender")
            #expect(headers[DeadLetterHeader.errorClass]?.stringValue == "permanent")
            #expect(headers[DeadLetterHeader.attempts] == .int(1), "the forged x-attempts must not count")
            #expect(
                headers[DeadLetterHeader.errorMessage]?.stringValue?.contains("broker user 'stock-worker'") == true,
                "\(headers)")
            #expect(letter.properties.type == "payment.succeeded")
        }
        #expect(try status(placed.orderID, fixture) == "PENDING", "a refused sender has no effect")
        let metrics = worker.http("/metrics")?.1 ?? ""
        let counted = metrics.split(separator: "\n").first {
            $0.hasPrefix("commerce_messages_dead_lettered_total") && $0.contains(#"reason="forbidden_sender""#)
        }
        #expect(counted?.hasSuffix(" 2") == true, "counted on /metrics: \(counted ?? "no line")")

        // The payment-worker's user is the one the catalog allows.
        let payments = try TestServers.amqp("trust-test payment-worker", user: "payment-worker")
        defer { payments.close() }
        let genuine = PaymentSucceeded(
            orderID: placed.orderID, paymentID: "ch_genuine", currency: placed.currency, amount: placed.amounts.total)
        _ = try publish(genuine, on: payments, exchange: "", routingKey: queue)
        try waitUntil("order confirmed", timeout: .seconds(30), { try status(placed.orderID, fixture) }) {
            $0 == "CONFIRMED"
        }
        #expect(try fixture.deadLetters(of: "order-worker").isEmpty)
    }

    private func status(_ orderID: String, _ fixture: ServiceFixture) throws -> String? {
        let database = try fixture.connectDatabase()
        defer { database.close() }
        return try database.query("select status from orders where order_id = $1", [.text(orderID)]).rows.first
            .map { try $0.string("status") }
    }
}
