import Foundation

/// A charge as the card processor's API shows it (`POST /v1/charges`, `GET /v1/charges/{id}`).
///
/// JSON: `id` (`ch_…`), `object` (`charge`), `status` (`captured` or `declined`), `decline_code`
/// and `decline_message` (null when captured), `amount` and `amount_refunded` (minor units),
/// `currency`, `order_reference`, `created` (Unix seconds).
public struct Charge: Codable, Sendable, Hashable {
    /// `captured` or `declined`.
    public enum Status: String, Codable, Sendable {
        case captured
        case declined
    }

    public var id: String
    public var status: Status
    public var declineCode: String?
    public var declineMessage: String?
    public var amount: Int
    public var amountRefunded: Int
    public var currency: String
    public var orderReference: String
    /// Unix seconds.
    public var created: Int

    /// A charge.
    public init(
        id: String, status: Status, declineCode: String? = nil, declineMessage: String? = nil, amount: Int,
        amountRefunded: Int = 0, currency: String, orderReference: String, created: Int
    ) {
        self.id = id
        self.status = status
        self.declineCode = declineCode
        self.declineMessage = declineMessage
        self.amount = amount
        self.amountRefunded = amountRefunded
        self.currency = currency
        self.orderReference = orderReference
        self.created = created
    }

    enum CodingKeys: String, CodingKey {
        case id, object, status, amount, currency, created
        case declineCode = "decline_code"
        case declineMessage = "decline_message"
        case amountRefunded = "amount_refunded"
        case orderReference = "order_reference"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        status = try container.decode(Status.self, forKey: .status)
        declineCode = try container.decodeIfPresent(String.self, forKey: .declineCode)
        declineMessage = try container.decodeIfPresent(String.self, forKey: .declineMessage)
        amount = try container.decode(Int.self, forKey: .amount)
        amountRefunded = try container.decodeIfPresent(Int.self, forKey: .amountRefunded) ?? 0
        currency = try container.decode(String.self, forKey: .currency)
        orderReference = try container.decode(String.self, forKey: .orderReference)
        created = try container.decode(Int.self, forKey: .created)
    }

    /// Every field, nulls included, as card processors' APIs show them.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode("charge", forKey: .object)
        try container.encode(status, forKey: .status)
        try container.encode(declineCode, forKey: .declineCode)
        try container.encode(declineMessage, forKey: .declineMessage)
        try container.encode(amount, forKey: .amount)
        try container.encode(amountRefunded, forKey: .amountRefunded)
        try container.encode(currency, forKey: .currency)
        try container.encode(orderReference, forKey: .orderReference)
        try container.encode(created, forKey: .created)
    }
}

/// A refund as the API shows it (`POST /v1/refunds`): `id` (`re_…`), `object` (`refund`),
/// `charge`, `amount`, `status` (`succeeded`), `created` (Unix seconds).
public struct Refund: Codable, Sendable, Hashable {
    public var id: String
    public var charge: String
    public var amount: Int
    public var status: String
    public var created: Int

    /// A refund that succeeded.
    public init(id: String, charge: String, amount: Int, created: Int) {
        self.id = id
        self.charge = charge
        self.amount = amount
        self.status = "succeeded"
        self.created = created
    }

    enum CodingKeys: String, CodingKey {
        case id, object, charge, amount, status, created
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        charge = try container.decode(String.self, forKey: .charge)
        amount = try container.decode(Int.self, forKey: .amount)
        status = try container.decode(String.self, forKey: .status)
        created = try container.decode(Int.self, forKey: .created)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode("refund", forKey: .object)
        try container.encode(charge, forKey: .charge)
        try container.encode(amount, forKey: .amount)
        try container.encode(status, forKey: .status)
        try container.encode(created, forKey: .created)
    }
}

/// The error body of every failed API request: `{"error": {"type": …, "message": …}}`.
public struct APIErrorBody: Codable, Sendable, Hashable {
    /// The error itself.
    public struct Detail: Codable, Sendable, Hashable {
        /// Machine-readable (`amount_exceeds_capture`, `idempotency_key_reused` …).
        public var type: String
        /// For people.
        public var message: String
    }

    public var error: Detail

    /// An error body.
    public init(type: String, message: String) {
        error = Detail(type: type, message: message)
    }
}
