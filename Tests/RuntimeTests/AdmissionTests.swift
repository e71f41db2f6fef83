import Testing

@testable import AMQP
@testable import WorkerRuntime

@Suite("Admission")
struct AdmissionTests {
    private let topology = Topology(queue: "probe-worker", bindings: ["probe.work"])
    /// The broker user the worker under test connects as.
    private let brokerUser = "probe-worker"

    // MARK: - Content type

    @Test(
        "JSON in UTF-8 is accepted, parameters and case notwithstanding",
        arguments: [
            "application/json", "application/json; charset=utf-8", #"Application/JSON;charset="UTF-8""#,
            "application/json; charset=utf8", "application/json; boundary=x", " application/json ",
        ])
    func contentTypeAccepted(contentType: String) {
        #expect(Admission.contentTypeProblem(contentType) == nil)
    }

    @Test("another media type is refused, named in the problem")
    func otherMediaType() {
        #expect(
            Admission.contentTypeProblem("text/plain") == "content_type is 'text/plain'; expected 'application/json'")
        #expect(
            Admission.contentTypeProblem("application/jsonx")
                == "content_type is 'application/jsonx'; expected 'application/json'")
    }

    @Test("a missing content type is refused as none")
    func emptyContentType() {
        #expect(Admission.contentTypeProblem("") == "content_type is none; expected 'application/json'")
    }

    @Test("a charset other than UTF-8 is refused, naming the charset")
    func otherCharset() {
        let problem = Admission.contentTypeProblem("application/json; charset=iso-8859-1")
        #expect(problem == "content_type has charset 'iso-8859-1'; the contract is UTF-8 JSON")
    }

    // MARK: - Identifiers

    @Test("identifiers with a control character are refused", arguments: ["a\u{0}b", "\u{1}", "id\n", "x\u{7f}"])
    func identifierControlCharacter(identifier: String) {
        #expect(Admission.identifierProblem(identifier) == "holds a NUL or another control character")
    }

    @Test("identifiers are limited to 255 bytes of UTF-8, not characters")
    func identifierLength() {
        #expect(Admission.identifierProblem(String(repeating: "a", count: 255)) == nil)
        #expect(Admission.identifierProblem(String(repeating: "a", count: 256)) == "is longer than 255 bytes")
        // 128 characters, 256 bytes.
        #expect(Admission.identifierProblem(String(repeating: "é", count: 128)) == "is longer than 255 bytes")
    }

    @Test("a UUID and the empty string are acceptable identifiers")
    func identifierAccepted() {
        #expect(Admission.identifierProblem("3F2504E0-4F89-41D3-9A0C-0305E82C3301") == nil)
        #expect(Admission.identifierProblem("") == nil)
    }

    // MARK: - Deliveries

    private func incoming(
        body: [UInt8] = Array(#"{"order_id":"o-1"}"#.utf8), contentType: String? = "application/json",
        messageID: String? = "3F2504E0-4F89-41D3-9A0C-0305E82C3301", correlationID: String? = "o-1",
        type: String? = "probe.work", appID: String? = "probe-producer", headers: AMQPTable = [:]
    ) -> IncomingMessage {
        let properties = AMQPProperties(
            contentType: contentType, headers: headers, correlationID: correlationID, messageID: messageID,
            timestamp: 1_700_000_000, type: type, appID: appID)
        let delivery = AMQPDelivery(
            channel: 1, deliveryTag: 7, redelivered: false, exchange: "commerce", routingKey: "probe.work",
            consumerTag: "ctag", properties: properties, body: body)
        return IncomingMessage(delivery: delivery, generation: 1, topology: topology, brokerUser: brokerUser)
    }

    private func reason(_ message: IncomingMessage, limit: Int = 1024) -> String? {
        Admission.failure(of: message, maximumBodySize: limit, senders: SenderPolicy())?.reason
    }

    @Test("a well-formed delivery is admitted")
    func goodDelivery() {
        #expect(Admission.failure(of: incoming(), maximumBodySize: 1024, senders: SenderPolicy()) == nil)
    }

    @Test("an empty body is refused permanently as empty_body")
    func emptyBody() {
        let failure = Admission.failure(of: incoming(body: []), maximumBodySize: 1024, senders: SenderPolicy())
        #expect(failure?.failureClass == .permanent)
        #expect(failure?.reason == "empty_body")
    }

    @Test("a body above the limit is refused as body_too_large; one at the limit is admitted")
    func bodyTooLarge() {
        let failure = Admission.failure(
            of: incoming(body: Array(repeating: 0x20, count: 17)), maximumBodySize: 16, senders: SenderPolicy())
        #expect(failure?.failureClass == .permanent)
        #expect(failure?.reason == "body_too_large")
        #expect(failure?.message == "the body has 17 bytes; the limit is 16")
        #expect(reason(incoming(body: Array(repeating: 0x20, count: 16)), limit: 16) == nil)
    }

    @Test("a wrong content type is refused as wrong_content_type")
    func wrongContentType() {
        #expect(reason(incoming(contentType: "text/plain")) == "wrong_content_type")
        #expect(reason(incoming(contentType: nil)) == "wrong_content_type")
    }

    @Test("a missing or empty message id is refused as missing_message_id")
    func missingMessageID() {
        #expect(reason(incoming(messageID: nil)) == "missing_message_id")
        #expect(reason(incoming(messageID: "")) == "missing_message_id")
    }

    @Test("a message id with NUL is refused as invalid_message_id")
    func invalidMessageID() {
        let failure = Admission.failure(
            of: incoming(messageID: "abc\u{0}"), maximumBodySize: 1024, senders: SenderPolicy())
        #expect(failure?.failureClass == .permanent)
        #expect(failure?.reason == "invalid_message_id")
        #expect(failure?.message == "message_id holds a NUL or another control character")
    }

    @Test("a correlation id with NUL is refused as invalid_correlation_id")
    func invalidCorrelationID() {
        #expect(reason(incoming(correlationID: "o-1\u{0}")) == "invalid_correlation_id")
    }

    @Test("a bad type, causation id or app id is refused with its own reason")
    func otherIdentifiers() {
        #expect(reason(incoming(type: "probe\u{0}work")) == "invalid_type")
        #expect(reason(incoming(headers: ["causation_id": "c\u{1}"])) == "invalid_causation_id")
        #expect(reason(incoming(appID: String(repeating: "a", count: 256))) == "invalid_app_id")
    }

    // MARK: - Provenance of the runtime's own headers

    private func retryReturn(
        queue: String? = nil, reason: String = "expired", attempts: AMQPFieldValue? = 2
    ) -> AMQPTable {
        var headers: AMQPTable = [
            "x-death": .array([
                .table(["queue": .string(queue ?? topology.retryQueue(forTier: 0)), "reason": .string(reason)])
            ]),
            "x-original-routing-key": "probe.work",
        ]
        headers["x-attempts"] = attempts
        return headers
    }

    @Test("a fresh message's x-attempts and x-original-routing-key are ignored")
    func freshMessageHeadersIgnored() {
        let provenance = Admission.provenance(
            headers: ["x-attempts": 4_611_686_018_427_387_904, "x-original-routing-key": "evil"],
            exchange: "commerce", routingKey: "probe.work", userID: brokerUser, brokerUser: brokerUser,
            topology: topology)
        #expect(provenance == Admission.Provenance(attempts: 0, originalRoutingKey: "probe.work"))
    }

    @Test("a delivery back from a retry queue is believed")
    func retryReturnBelieved() {
        let provenance = Admission.provenance(
            headers: retryReturn(), exchange: "", routingKey: topology.queue, userID: brokerUser,
            brokerUser: brokerUser, topology: topology)
        #expect(provenance == Admission.Provenance(attempts: 2, originalRoutingKey: "probe.work", isRetryReturn: true))
    }

    @Test("an expiry from any of the retry tiers counts", arguments: [0, 1, 2])
    func everyTier(tier: Int) {
        let provenance = Admission.provenance(
            headers: retryReturn(queue: topology.retryQueue(forTier: tier)), exchange: "", routingKey: topology.queue,
            userID: brokerUser, brokerUser: brokerUser, topology: topology)
        #expect(provenance == Admission.Provenance(attempts: 2, originalRoutingKey: "probe.work", isRetryReturn: true))
    }

    @Test(
        "from a retry queue, an x-attempts that is absent, out of range or not an integer counts as one",
        arguments: [
            (AMQPFieldValue?.some(999_999_999), 1), (.some("2"), 1), (.some(0), 1), (.some(-3), 1), (nil, 1),
            (.some(10_001), 1), (.some(10_000), 10_000), (.some(1), 1),
        ])
    func untrustedAttempts(attempts: AMQPFieldValue?, expected: Int) {
        let provenance = Admission.provenance(
            headers: retryReturn(attempts: attempts), exchange: "", routingKey: topology.queue, userID: brokerUser,
            brokerUser: brokerUser, topology: topology)
        #expect(
            provenance
                == Admission.Provenance(attempts: expected, originalRoutingKey: "probe.work", isRetryReturn: true))
    }

    @Test("an x-death naming another queue is not a retry return")
    func otherQueue() {
        let provenance = Admission.provenance(
            headers: retryReturn(queue: "other-worker.retry.1s"), exchange: "", routingKey: topology.queue,
            userID: brokerUser, brokerUser: brokerUser, topology: topology)
        #expect(provenance == Admission.Provenance(attempts: 0, originalRoutingKey: topology.queue))
    }

    @Test("an x-death whose reason is not expired is not a retry return", arguments: ["rejected", "maxlen", ""])
    func notExpired(reason: String) {
        let provenance = Admission.provenance(
            headers: retryReturn(reason: reason), exchange: "", routingKey: topology.queue, userID: brokerUser,
            brokerUser: brokerUser, topology: topology)
        #expect(provenance == Admission.Provenance(attempts: 0, originalRoutingKey: topology.queue))
    }

    @Test("only the newest x-death entry counts")
    func newestDeathOnly() {
        var headers = retryReturn()
        headers["x-death"] = .array([
            .table(["queue": "probe-worker", "reason": "rejected"]),
            .table(["queue": .string(topology.retryQueue(forTier: 0)), "reason": "expired"]),
        ])
        let provenance = Admission.provenance(
            headers: headers, exchange: "", routingKey: topology.queue, userID: brokerUser, brokerUser: brokerUser,
            topology: topology)
        #expect(provenance.attempts == 0)
    }

    @Test("a retry return must come through the default exchange, routed to the worker queue")
    func wrongRoute() {
        let viaExchange = Admission.provenance(
            headers: retryReturn(), exchange: "commerce", routingKey: topology.queue, userID: brokerUser,
            brokerUser: brokerUser, topology: topology)
        #expect(viaExchange == Admission.Provenance(attempts: 0, originalRoutingKey: topology.queue))
        let otherKey = Admission.provenance(
            headers: retryReturn(), exchange: "", routingKey: "probe.work", userID: brokerUser, brokerUser: brokerUser,
            topology: topology)
        #expect(otherKey == Admission.Provenance(attempts: 0, originalRoutingKey: "probe.work"))
    }

    @Test("an original routing key that is empty or holds a control character is not believed")
    func badOriginalRoutingKey() {
        for key: AMQPFieldValue in ["", "probe\u{0}work", 5] {
            var headers = retryReturn()
            headers["x-original-routing-key"] = key
            let provenance = Admission.provenance(
                headers: headers, exchange: "", routingKey: topology.queue, userID: brokerUser, brokerUser: brokerUser,
                topology: topology)
            #expect(
                provenance == Admission.Provenance(attempts: 2, originalRoutingKey: topology.queue, isRetryReturn: true)
            )
        }
    }

    @Test("IncomingMessage takes its attempts and original routing key from the provenance rules")
    func incomingUsesProvenance() {
        let fresh = incoming(headers: ["x-attempts": 3, "x-original-routing-key": "evil"])
        #expect(fresh.attempts == 0)
        #expect(fresh.originalRoutingKey == "probe.work")

        let delivery = AMQPDelivery(
            channel: 1, deliveryTag: 8, redelivered: false, exchange: "", routingKey: topology.queue,
            consumerTag: "ctag", properties: AMQPProperties(headers: retryReturn(), messageID: "m", userID: brokerUser),
            body: [0x7b])
        let returned = IncomingMessage(delivery: delivery, generation: 1, topology: topology, brokerUser: brokerUser)
        #expect(returned.attempts == 2)
        #expect(returned.originalRoutingKey == "probe.work")
        #expect(returned.envelope.type == "probe.work", "without a type property the original routing key is the type")
    }
}

@Suite("Admission of senders")
struct SenderAdmissionTests {
    private let topology = Topology(queue: "order-worker", bindings: ["payment.succeeded"])
    private let brokerUser = "order-worker"

    private func delivery(
        type: String = "payment.succeeded", userID: String?, exchange: String = "commerce", routingKey: String? = nil,
        headers: AMQPTable = [:]
    ) -> IncomingMessage {
        let properties = AMQPProperties(
            contentType: "application/json", headers: headers, correlationID: "o-1",
            messageID: "3F2504E0-4F89-41D3-9A0C-0305E82C3301", timestamp: 1_700_000_000, type: type, userID: userID,
            appID: "payment-worker")
        let delivery = AMQPDelivery(
            channel: 1, deliveryTag: 7, redelivered: false, exchange: exchange, routingKey: routingKey ?? type,
            consumerTag: "ctag", properties: properties, body: Array(#"{"order_id":"o-1"}"#.utf8))
        return IncomingMessage(delivery: delivery, generation: 1, topology: topology, brokerUser: brokerUser)
    }

    private func failure(_ message: IncomingMessage, _ senders: SenderPolicy = SenderPolicy()) -> HandlingFailure? {
        Admission.failure(of: message, maximumBodySize: 1024, senders: senders)
    }

    @Test(
        "a saga event is accepted only from a broker user the catalog allows for its type",
        arguments: [
            ("payment.succeeded", "payment-worker", true), ("payment.succeeded", "stock-worker", false),
            ("payment.succeeded", "upstream", false), ("payment.succeeded", "order-worker", false),
            ("payment.succeeded", "commerce-operator", true), ("order.place", "upstream", true),
            ("order.cancel", "upstream", true), ("order.place", "payment-worker", false),
            ("stock.reserved", "stock-worker", true), ("stock.reserved", "someone", false),
        ])
    func senderChecked(type: String, userID: String, allowed: Bool) {
        let result = failure(delivery(type: type, userID: userID))
        if allowed {
            #expect(result == nil)
        } else {
            #expect(result?.reason == "forbidden_sender")
            #expect(result?.failureClass == .permanent)
        }
    }

    @Test("the refusal names the sender, its party and who may send the type")
    func refusalMessage() {
        let result = failure(delivery(userID: "stock-worker"))
        #expect(
            result?.message
                == "payment.succeeded from broker user 'stock-worker' (stock-worker) is refused: only payment-worker, operator may send it"
        )
    }

    @Test("a saga event without user_id is refused: its sender cannot be told")
    func noUserID() {
        #expect(failure(delivery(userID: nil))?.reason == "forbidden_sender")
        #expect(failure(delivery(userID: ""))?.reason == "forbidden_sender")
    }

    @Test("configured users replace a party's defaults")
    func configuredUsers() {
        let senders = SenderPolicy(users: ["payment-worker": ["pay-prod-1"], "operator": ["alice"]])
        #expect(failure(delivery(userID: "pay-prod-1"), senders) == nil)
        #expect(failure(delivery(userID: "payment-worker"), senders)?.reason == "forbidden_sender")
        #expect(failure(delivery(userID: "commerce"), senders)?.reason == "forbidden_sender")
        #expect(failure(delivery(userID: "alice"), senders) == nil)
    }

    @Test("a type outside the catalog is left to the handler")
    func unknownType() {
        #expect(failure(delivery(type: "probe.work", userID: "anyone")) == nil)
    }

    private var retryReturnHeaders: AMQPTable {
        [
            "x-death": .array([.table(["queue": .string(topology.retryQueue(forTier: 0)), "reason": "expired"])]),
            "x-attempts": 4, "x-original-routing-key": "payment.succeeded",
        ]
    }

    @Test("a return from the worker's own retry queue, published by its own user, is not checked again")
    func ownRetryReturn() {
        let returned = delivery(
            userID: brokerUser, exchange: "", routingKey: topology.queue, headers: retryReturnHeaders)
        #expect(returned.isRetryReturn)
        #expect(returned.attempts == 4)
        #expect(failure(returned) == nil)
    }

    @Test(
        "a forged x-death through the default exchange from another broker user is not believed",
        arguments: [String?.some("stock-worker"), .some("commerce-operator"), nil])
    func forgedDeath(userID: String?) {
        let forged = delivery(userID: userID, exchange: "", routingKey: topology.queue, headers: retryReturnHeaders)
        #expect(!forged.isRetryReturn)
        #expect(forged.attempts == 0, "the forged x-attempts must not count")
        #expect(forged.originalRoutingKey == topology.queue)
        let provenance = Admission.provenance(
            headers: retryReturnHeaders, exchange: "", routingKey: topology.queue, userID: userID,
            brokerUser: brokerUser, topology: topology)
        #expect(provenance == Admission.Provenance(attempts: 0, originalRoutingKey: topology.queue))
        if userID != "commerce-operator" {
            #expect(failure(forged)?.reason == "forbidden_sender", "so the sender check is not skipped")
        }
    }
}
