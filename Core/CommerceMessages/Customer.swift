/// The customer part of `order.place` and of the order events (`customer`).
///
/// Copied into every order event so that the notification worker reaches the customer without
/// reading the orders database.
public struct Customer: Codable, Sendable, Hashable {
    /// The customer's id (`c-1001`).
    public var id: String
    /// Where notifications go. Its shape is checked by the order validation, not here.
    public var email: String
    /// The membership level (`gold`), if any; levels are configuration, so any string is
    /// carried and unknown levels get no discount.
    public var membership: String?

    /// Creates a customer.
    public init(id: String, email: String, membership: String? = nil) {
        self.id = id
        self.email = email
        self.membership = membership
    }

    enum CodingKeys: String, CodingKey { case id, email, membership }

    /// Decodes strictly (see ``ContractMessage``).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.contractString(.id)
        email = try container.contractString(.email)
        membership = try container.contractOptionalString(.membership)
    }
}
