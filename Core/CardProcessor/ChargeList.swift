/// A page of `GET /v1/charges` (docs/payment-gateway.md, "Listing charges"), shaped like Stripe's
/// list objects: `object` (`list`), `url` (`/v1/charges`), `has_more` (another page follows: ask
/// again with `starting_after` = the last charge's id) and `data`, the charges in the listing's
/// order (`created`, then `id`), each with its `refunds`.
struct ChargeList: Encodable, Sendable {
    /// One charge of the listing: the charge as `GET /v1/charges/{id}` shows it, plus `refunds`,
    /// every refund made of it, in the order (`created`, `id`).
    struct Entry: Encodable, Sendable {
        var charge: Charge
        var refunds: [Refund]

        enum CodingKeys: String, CodingKey {
            case refunds
        }

        /// The charge's own fields, then `refunds` in the same object.
        func encode(to encoder: any Encoder) throws {
            try charge.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(refunds, forKey: .refunds)
        }
    }

    var data: [Entry]
    var hasMore: Bool

    enum CodingKeys: String, CodingKey {
        case object, url, data
        case hasMore = "has_more"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("list", forKey: .object)
        try container.encode("/v1/charges", forKey: .url)
        try container.encode(hasMore, forKey: .hasMore)
        try container.encode(data, forKey: .data)
    }
}
