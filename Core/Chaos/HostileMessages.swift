import AMQP
import Foundation

/// The hostile inputs `commerce-lab chaos` throws at every worker queue: what a careless or malicious
/// producer can put on the broker. Each must end in the worker's dead-letter queue with a reason
/// (or, for the ones that are valid but unwelcome, be refused by the domain or ignored as a
/// duplicate), and no worker may crash on any of them. See docs/chaos.md.
public struct HostileMessage: Sendable {
    /// What it is, for the report (`invalid_json`, `oversized` …).
    public var name: String
    /// The worker queue it is published to, through the default exchange.
    public var queue: String
    public var properties: AMQPProperties
    public var body: [UInt8]
    /// Whether the worker must dead-letter it (false: valid enough to be handled, such as a
    /// duplicate message id, which is acknowledged without a second effect).
    public var expectDeadLetter: Bool
}

public enum HostileMessages {
    /// Strings that have broken systems: SQL and NoSQL injection, format strings, template
    /// injection, right-to-left override, zero-width and combining characters, emoji, an overlong
    /// string, JSON-in-JSON.
    public static let nastyStrings: [String] = [
        "'; drop table orders; --",
        "\" or \"1\"=\"1",
        "{\"$gt\": \"\"}",
        "%s%s%s%n",
        "${jndi:ldap://127.0.0.1/x}",
        "<script>alert(1)</script>",
        "\u{202E}gnp.exe",
        "a\u{200B}b\u{0301}\u{0301}\u{0301}",
        "주문 🧨🔥 ʇsǝʇ",
        String(repeating: "A", count: 10_000),
        "{\"order_id\":\"x\"}",
        "\\u0000",
    ]

    /// The corpus for `queues` (each worker's queue): one of each kind per queue, plus injection
    /// strings in every text field of an otherwise valid `order.place` for the order-worker.
    /// `maximumBodySize` is the workers' `consumer.maxBodyBytes`.
    public static func corpus(queues: [String], orderQueue: String, maximumBodySize: Int) -> [HostileMessage] {
        var messages: [HostileMessage] = []
        for queue in queues {
            func add(_ name: String, _ body: String, type: String? = "order.place", contentType: String? = "application/json",
                     messageID: String? = newID(), correlationID: String? = newID())
            {
                messages.append(
                    HostileMessage(
                        name: name, queue: queue,
                        properties: properties(type: type, contentType: contentType, messageID: messageID, correlationID: correlationID),
                        body: Array(body.utf8), expectDeadLetter: true))
            }
            add("invalid_json", "{\"order_id\": \"x\", ")
            add("wrong_shape", "[1, 2, 3]")
            add("unknown_type", "{}", type: "order.teleport")
            add("empty_body", "")
            add("wrong_content_type", "<order/>", contentType: "application/xml")
            add("missing_message_id", "{}", messageID: nil)
            add("missing_correlation_id", "{}", correlationID: nil)
            add("missing_type", "{}", type: nil)
            add("not_utf8", "")
            messages[messages.count - 1].body = [0xFF, 0xFE, 0x00, 0xC3]
            add("oversized", "{\"pad\":\"" + String(repeating: "x", count: maximumBodySize + 1) + "\"}")
        }
        // Valid envelopes with hostile content, for the order-worker's validation chain.
        for (index, nasty) in nastyStrings.enumerated() {
            let orderID = "chaos-nasty-\(index)-\(newID().prefix(8))"
            messages.append(
                placeOrder(
                    name: "injection_strings", queue: orderQueue, orderID: orderID, text: nasty, quantity: 1, unitPrice: 1_000))
        }
        // The contract allows no negative money: a schema violation, but the command names its
        // order, so it is answered with order.rejected (negative_amount), not dead-lettered.
        messages.append(
            placeOrder(
                name: "negative_amount", queue: orderQueue, orderID: "chaos-negative-\(newID().prefix(8))", text: "x",
                quantity: 1, unitPrice: -5_000))
        messages.append(
            placeOrder(
                name: "huge_quantity", queue: orderQueue, orderID: "chaos-huge-\(newID().prefix(8))", text: "x",
                quantity: 9_007_199_254_740_993, unitPrice: 1_000))
        return messages
    }

    /// An `order.place` whose every text field is `text`. It names its order, so whatever rule it
    /// breaks, contract or business, it is answered (`order.placed` or `order.rejected`), never
    /// dead-lettered; it must not crash anything, and the audit must hold.
    private static func placeOrder(
        name: String, queue: String, orderID: String, text: String, quantity: Int, unitPrice: Int
    ) -> HostileMessage {
        let escaped = String(data: try! JSONEncoder().encode(text), encoding: .utf8)!
        let body = """
            {"order_id":"\(orderID)","customer":{"id":\(escaped),"email":\(escaped),"membership":\(escaped)},\
            "currency":"KRW","items":[{"sku":\(escaped),"name":\(escaped),"quantity":\(quantity),"unit_price":\(unitPrice)}],\
            "shipping_address":{"street":\(escaped),"city":\(escaped),"postal_code":\(escaped),"country":\(escaped),\
            "detail":\(escaped)},"payment_token":\(escaped),"coupon_code":\(escaped)}
            """
        return HostileMessage(
            name: name, queue: queue,
            properties: properties(type: "order.place", contentType: "application/json", messageID: newID(), correlationID: orderID),
            body: Array(body.utf8), expectDeadLetter: false)
    }

    public static func properties(type: String?, contentType: String?, messageID: String?, correlationID: String?) -> AMQPProperties {
        AMQPProperties(
            contentType: contentType, deliveryMode: 2, correlationID: correlationID, messageID: messageID,
            timestamp: UInt64(Date().timeIntervalSince1970), type: type, appID: "commerce-chaos")
    }

    public static func newID() -> String { UUID().uuidString.lowercased() }
}
