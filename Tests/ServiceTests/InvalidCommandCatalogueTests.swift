import AMQP
import CommerceMessages
import CommerceTestKit
import Foundation
import Testing
import WorkerRuntime

/// The contract's whole catalogue of invalid `order.place` commands, published as an upstream
/// would to a real order-worker (docs/upstream.md, "What you hear"): every field the schema
/// constrains, violated in each documented way, plus the business rules the schema names and the
/// card processor's limits. Each command that names its order gets exactly one `order.rejected`
/// with the violation's path and code; only commands with no readable `order_id` are
/// dead-lettered, each with its reason.
@Suite("Invalid order.place catalogue")
struct InvalidCommandCatalogueTests {

    /// What the test expects of one command.
    enum Outcome: Hashable {
        /// `order.rejected` whose violations include `code` at `field`.
        case rejected(code: String, field: String)
        /// Dead-lettered with `x-error-reason` = `reason`, and no event.
        case deadLettered(reason: String)
    }

    struct Case: CustomStringConvertible {
        var name: String
        var body: [UInt8]
        /// The order id in the body (for the rejected), or a fresh id used only as correlation id.
        var orderID: String
        var correlationID: String?
        var outcome: Outcome
        var description: String { name }
    }

    /// A valid `order.place` body for `orderID`, as a JSON object.
    static func validBody(_ orderID: String) -> [String: Any] {
        [
            "order_id": orderID,
            "customer": ["id": "c-1001", "email": "kim@example.com", "membership": "gold"],
            "currency": "KRW",
            "items": [["sku": "KB-001", "name": "Keyboard", "quantity": 2, "unit_price": 45_000]],
            "shipping_address": [
                "street": "Teheran-ro 123", "city": "Seoul", "postal_code": "06234", "country": "KR", "detail": "5F",
            ],
            "payment_token": "tok_approve",
        ]
    }

    /// `node` with the value at `path` (keys and array indexes, dot-separated: `items.0.quantity`)
    /// replaced by `value`, or removed when `value` is `nil`.
    static func replacing(_ node: Any?, _ path: ArraySlice<Substring>, with value: Any?) -> Any? {
        guard let step = path.first else { return value }
        if let index = Int(step), var array = node as? [Any] {
            array[index] = replacing(array[index], path.dropFirst(), with: value) ?? NSNull()
            return array
        }
        var object = node as? [String: Any] ?? [:]
        object[String(step)] = replacing(object[String(step)], path.dropFirst(), with: value)
        return object
    }

    static func json(_ object: Any) -> [UInt8] {
        Array(try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }

    /// The catalogue. `set` cases change one value of a valid body (`nil`: remove the key).
    static func catalogue() -> [Case] {
        var cases: [Case] = []
        func newID() -> String { UUID().uuidString.lowercased() }
        func set(_ path: String, _ value: Any?, _ code: String, _ field: String, name: String? = nil) {
            let orderID = newID()
            let body = replacing(validBody(orderID), path.split(separator: ".")[...], with: value)!
            cases.append(
                Case(
                    name: name ?? "\(path) = \(value.map { "\($0)" } ?? "absent")", body: json(body), orderID: orderID,
                    correlationID: orderID, outcome: .rejected(code: code, field: field)))
        }
        let missing: Any? = nil
        // Wrong JSON type and absence, for every key the schema has (required or optional).
        for path in ["customer", "currency", "items", "shipping_address", "payment_token"] {
            set(path, missing, "missing_field", path)
        }
        for (path, field) in [
            ("customer.id", "customer.id"), ("customer.email", "customer.email"), ("items.0.sku", "items[0].sku"),
            ("items.0.name", "items[0].name"), ("items.0.quantity", "items[0].quantity"),
            ("items.0.unit_price", "items[0].unit_price"), ("shipping_address.street", "shipping_address.street"),
            ("shipping_address.city", "shipping_address.city"),
            ("shipping_address.postal_code", "shipping_address.postal_code"),
            ("shipping_address.country", "shipping_address.country"),
        ] {
            set(path, missing, "missing_field", field)
        }
        for (path, value, field) in [
            ("customer", "c-1001" as Any, "customer"), ("customer.id", 1001, "customer.id"),
            ("customer.email", true, "customer.email"), ("customer.membership", 3, "customer.membership"),
            ("currency", 410, "currency"), ("items", ["sku": "KB-001"], "items"), ("items.0", "KB-001", "items[0]"),
            ("items.0.sku", 1, "items[0].sku"), ("items.0.name", ["Keyboard"], "items[0].name"),
            ("items.0.quantity", "2", "items[0].quantity"), ("items.0.quantity", 1.5, "items[0].quantity"),
            ("items.0.quantity", NSNull(), "items[0].quantity"), ("items.0.unit_price", "45000", "items[0].unit_price"),
            ("items.0.unit_price", 45_000.5, "items[0].unit_price"), ("shipping_address", [1], "shipping_address"),
            ("shipping_address.street", 12, "shipping_address.street"),
            ("shipping_address.detail", 5, "shipping_address.detail"), ("payment_token", 42, "payment_token"),
            ("coupon_code", ["SUMMER20"], "coupon_code"),
        ] {
            set(path, value, "wrong_type", field)
        }
        // Out of range, bad pattern, bad currency.
        set("items.0.quantity", 1e30, "invalid_value", "items[0].quantity", name: "quantity beyond Int")
        set("items.0.unit_price", -5, "negative_amount", "items[0].unit_price")
        set("currency", "XXX1", "invalid_currency", "currency")
        set("currency", "krw", "invalid_currency", "currency")
        set("currency", "", "invalid_currency", "currency")
        // Business rules of the schema's descriptions.
        set("items", [Any](), "empty_order", "items")
        set("items.0.quantity", 0, "invalid_quantity", "items[0].quantity")
        set("items.0.quantity", -1, "invalid_quantity", "items[0].quantity")
        set("items.0.quantity", 1_001, "quantity_too_large", "items[0].quantity")
        set("currency", "USD", "unsupported_currency", "currency")
        set("customer.email", "not-an-email", "invalid_email", "customer.email")
        set("shipping_address.country", "US", "undeliverable_address", "shipping_address.country")
        set("shipping_address.city", " ", "missing_field", "shipping_address.city", name: "blank city")
        set("coupon_code", "NO-SUCH-COUPON", "unknown_coupon", "coupon_code")
        set("customer.id", String(repeating: "c", count: 65), "field_too_long", "customer.id")
        // The card processor's limits.
        set("payment_token", "", "invalid_payment_token", "payment_token", name: "empty payment_token")
        set(
            "payment_token", String(repeating: "t", count: 256), "invalid_payment_token", "payment_token",
            name: "payment_token of 256 characters")
        set("payment_token", "tok_\u{7}approve", "invalid_payment_token", "payment_token", name: "control character")
        set(
            "items.0", ["sku": "KB-001", "name": "Keyboard", "quantity": 1_000, "unit_price": 1_000_000_001],
            "amount_too_large", "items", name: "total above the processor's maximum")
        set(
            "items.0", ["sku": "KB-001", "name": "Keyboard", "quantity": 3, "unit_price": Int.max / 2],
            "amount_overflow", "items", name: "total beyond Int")

        // The envelope: correlation_id absent, or another order's id.
        for correlation in [nil, newID()] {
            let orderID = newID()
            cases.append(
                Case(
                    name: "correlation_id \(correlation == nil ? "absent" : "of another order")",
                    body: json(validBody(orderID)), orderID: orderID, correlationID: correlation,
                    outcome: .rejected(code: "correlation_mismatch", field: "correlation_id")))
        }

        // No readable order_id: dead-lettered alone.
        func unreadable(_ name: String, _ body: [UInt8], _ reason: String) {
            let id = newID()
            cases.append(
                Case(name: name, body: body, orderID: id, correlationID: id, outcome: .deadLettered(reason: reason)))
        }
        unreadable("not JSON", Array(#"{"order_id": "x", "#.utf8), "malformed_json")
        unreadable("a JSON array", json([validBody(newID())]), "wrong_type")
        for (value, reason) in [
            (missing, "missing_field"), (NSNull() as Any?, "wrong_type"), (42, "wrong_type"), ("", "invalid_value"),
            (String(repeating: "o", count: 129), "invalid_value"),
        ] {
            unreadable(
                "order_id = \(value.map { "\($0)".prefix(20) } ?? "absent")",
                json(replacing(validBody("x"), ["order_id"], with: value)!), reason)
        }
        return cases
    }

    @Test("every invalid command that names its order gets exactly one order.rejected; the others are dead-lettered")
    func catalogueIsAnswered() throws {
        let fixture = try ServiceFixture(watching: [.orderPlaced, .orderRejected, .orderConfirmed, .orderCancelled])
        try fixture.startWorker("order-worker")
        let cases = Self.catalogue()
        var published: [String: String] = [:]  // message id → case name
        for entry in cases {
            published[try publish(entry.body, correlationID: entry.correlationID, fixture)] = entry.name
        }
        // Each rejected case once more under a new message id, and one of them under its first
        // message id again: still one answer each.
        let answered = cases.filter { if case .rejected = $0.outcome { true } else { false } }
        for entry in answered { try publish(entry.body, correlationID: entry.correlationID, fixture) }
        let again = try #require(answered.first)
        let messageID = try publish(again.body, correlationID: again.correlationID, fixture)
        try publish(again.body, correlationID: again.correlationID, messageID: messageID, fixture)

        let events = try eventsUpToMarker(fixture)
        var byOrder: [String: [AnyMessage]] = [:]
        for event in events { byOrder[event.orderID, default: []].append(event) }
        for entry in answered {
            guard case .rejected(let code, let field) = entry.outcome else { continue }
            let got = byOrder[entry.orderID] ?? []
            guard got.count == 1, case .orderRejected(let rejected) = got[0] else {
                Issue.record("\(entry.name): expected exactly one order.rejected, got \(got)")
                continue
            }
            #expect(rejected.reason == .invalidOrder, "\(entry.name)")
            #expect(
                rejected.violations.contains { $0.code == code && $0.field == field },
                "\(entry.name): expected \(code) at \(field), got \(rejected.violations)")
            #expect(rejected.violations.allSatisfy { !$0.message.isEmpty }, "\(entry.name)")
        }
        #expect(
            Set(byOrder.keys) == Set(answered.map(\.orderID)),
            "events only for the answered commands: \(Set(byOrder.keys).subtracting(answered.map(\.orderID)))")

        // The unreadable ones, each dead-lettered once with its reason.
        let unreadable = cases.filter { if case .deadLettered = $0.outcome { true } else { false } }
        let queue = "order-worker-\(fixture.suffix).dlq"
        try waitUntil("\(unreadable.count) dead letters", { try fixture.depth(queue) }) { $0 >= unreadable.count }
        let letters = try fixture.deadLetters(of: "order-worker")
        var reasons: [String: String] = [:]
        for letter in letters {
            let name = published[letter.properties.messageID ?? ""] ?? "<unknown \(letter.properties.messageID ?? "")>"
            reasons[name] = letter.properties.headers[DeadLetterHeader.errorReason]?.stringValue ?? "<none>"
        }
        #expect(letters.count == unreadable.count, "\(reasons)")
        for entry in unreadable {
            guard case .deadLettered(let reason) = entry.outcome else { continue }
            #expect(
                reasons[entry.name] == reason, "\(entry.name): dead-lettered as \(reasons[entry.name] ?? "nothing")")
        }

        // Each answered command is stored REJECTED with its violations.
        let database = try fixture.connectDatabase()
        defer { database.close() }
        let rows = try database.query(
            "select order_id, status, reason from orders where order_id = any($1::text[])",
            [.textArray(answered.map(\.orderID))]
        ).rows
        #expect(rows.count == answered.count)
        for row in rows {
            #expect(try row.string("status") == "REJECTED" && row.text("reason") == "invalid_order")
        }
    }

    @Test("an invalid command under a stored order's id is an order_id_conflict: the order keeps its one answer")
    func invalidCommandCannotAnswerForAnotherOrder() throws {
        let fixture = try ServiceFixture(watching: [.orderPlaced, .orderRejected, .orderConfirmed, .orderCancelled])
        try fixture.startWorker("order-worker")
        let placedID = UUID().uuidString.lowercased()
        try publish(Self.json(Self.validBody(placedID)), correlationID: placedID, fixture)
        let rejectedID = UUID().uuidString.lowercased()
        let invalid = Self.replacing(Self.validBody(rejectedID), ["currency"], with: "XXX1")!
        try publish(Self.json(invalid), correlationID: rejectedID, fixture)
        let first = try fixture.events(2)
        #expect(Set(first.map(\.messageType)) == [.orderPlaced, .orderRejected], "\(first)")

        // Forged: the placed order's id with a body that breaks the contract, and the rejected
        // order's id with another invalid body; and the placed order's body again without its
        // correlation_id (the same command: nothing new).
        let forged = [
            Self.json(Self.replacing(Self.validBody(placedID), ["items", "0", "unit_price"], with: -5)!),
            Self.json(Self.replacing(Self.validBody(rejectedID), ["payment_token"], with: 7)!),
        ]
        var conflicting: Set<String> = []
        for body in forged { conflicting.insert(try publish(body, correlationID: nil, fixture)) }
        try publish(Self.json(Self.validBody(placedID)), correlationID: nil, fixture)
        #expect(try eventsUpToMarker(fixture).isEmpty, "no second answer for either order")
        let queue = "order-worker-\(fixture.suffix).dlq"
        try waitUntil("the forged commands in the DLQ", { try fixture.depth(queue) }) { $0 >= 2 }
        let letters = try fixture.deadLetters(of: "order-worker")
        #expect(Set(letters.compactMap(\.properties.messageID)) == conflicting)
        #expect(
            letters.allSatisfy {
                $0.properties.headers[DeadLetterHeader.errorReason]?.stringValue == "order_id_conflict"
            })
        let database = try fixture.connectDatabase()
        defer { database.close() }
        let statuses = try database.query(
            "select order_id, status from orders where order_id = any($1::text[])",
            [.textArray([placedID, rejectedID])]
        ).rows.map { (try $0.string("order_id"), try $0.string("status")) }
        #expect(Dictionary(uniqueKeysWithValues: statuses) == [placedID: "PENDING", rejectedID: "REJECTED"])
    }

    @Test("two order-worker copies, each invalid command delivered three times under new message ids: one answer each")
    func competingCopiesAnswerOnce() throws {
        let fixture = try ServiceFixture(watching: [.orderPlaced, .orderRejected, .orderConfirmed, .orderCancelled])
        for _ in 0..<2 {
            try fixture.startWorker("order-worker")
        }
        let orderIDs = (0..<20).map { _ in UUID().uuidString.lowercased() }
        var messageIDs: [String] = []
        for _ in 0..<3 {
            for (index, orderID) in orderIDs.enumerated() {
                var body = Self.validBody(orderID)
                // Half break the schema, half name no correlation_id; all are answered.
                if index.isMultiple(of: 2) { body["currency"] = "XXX1" }
                messageIDs.append(
                    try publish(
                        Self.json(body), correlationID: index.isMultiple(of: 2) ? orderID : nil, fixture))
            }
        }
        // Every delivery handled and committed (the inbox holds its message id), then every emitted
        // event published (the outbox is empty): the watch queue holds all the answers there are.
        let database = try fixture.connectDatabase()
        defer { database.close() }
        try waitUntil(
            "all \(messageIDs.count) commands handled, every event published", timeout: .seconds(60),
            {
                () throws -> [Int64] in
                let handled = try database.query(
                    "select count(*) as n from runtime_inbox where message_id = any($1::text[])",
                    [.textArray(messageIDs)]
                ).rows[0].int("n")
                let unsent = try database.query("select count(*) as n from runtime_outbox").rows[0].int("n")
                return [handled, unsent]
            }
        ) { $0 == [Int64(messageIDs.count), 0] }
        let events = try fixture.events(orderIDs.count)
        #expect(events.count == orderIDs.count, "\(events.map(\.orderID))")
        #expect(Set(events.map(\.orderID)) == Set(orderIDs))
        #expect(events.allSatisfy { $0.messageType == .orderRejected })
    }

    /// Publishes `body` as `order.place` with the contract's properties, `correlationID` as given
    /// (`nil`: none). Returns the message id.
    @discardableResult
    private func publish(
        _ body: [UInt8], correlationID: String?, messageID: String = Envelope.newMessageID(), _ fixture: ServiceFixture
    ) throws -> String {
        let properties = AMQPProperties(
            contentType: "application/json", deliveryMode: 2, correlationID: correlationID, messageID: messageID,
            timestamp: UInt64(Date().timeIntervalSince1970), type: MessageType.orderPlace.rawValue,
            appID: "upstream-test")
        try fixture.amqp.publish(
            channel: fixture.channel, exchange: fixture.exchange, routingKey: MessageType.orderPlace.rawValue,
            properties: properties, body: body)
        let outcomes = try fixture.amqp.waitForConfirms(channel: fixture.channel, timeout: .seconds(30))
        #expect(outcomes.values.allSatisfy { $0 == .confirmed })
        return messageID
    }

    /// Publishes a valid order and collects events until its `order.placed`: the one consumer takes
    /// the queue in order, so every command published before it has been handled by then. Returns
    /// the events other than the marker's.
    private func eventsUpToMarker(_ fixture: ServiceFixture) throws -> [AnyMessage] {
        let marker = UUID().uuidString.lowercased()
        try publish(Self.json(Self.validBody(marker)), correlationID: marker, fixture)
        var events: [AnyMessage] = []
        try waitUntil(
            "the marker's order.placed", timeout: .seconds(60),
            { () -> Bool in
                events += try fixture.events(0, timeout: .seconds(1))
                return events.contains { $0.orderID == marker }
            }
        ) { $0 }
        return events.filter { $0.orderID != marker }
    }
}
