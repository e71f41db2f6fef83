import Foundation

/// The query string of `GET /v1/charges`, validated: either the lookup by idempotency key or a
/// page of the charge listing (docs/payment-gateway.md, "Listing charges"). Pure.
///
/// Listing parameters, as Stripe names them: `created[gte]`, `created[gt]`, `created[lt]`,
/// `created[lte]` (Unix seconds; the window of `created`), `order_reference` (one order's
/// charges), `limit` (1 … ``maximumLimit``, default ``defaultLimit``) and `starting_after` (the
/// id of the last charge of the previous page). Keys and values may be percent-encoded
/// (`created%5Bgte%5D`). An unknown parameter, one given twice, a value that is not a number
/// where one is needed, or `idempotency_key` mixed with listing parameters is a 400
/// `invalid_request` naming it: a caller that misspells a filter must not get the whole list.
struct ChargeListQuery: Sendable, Hashable {
    /// What the query asks for.
    enum Request: Sendable, Hashable {
        /// `idempotency_key=K`: the one charge created under `K`.
        case byIdempotencyKey(String)
        /// A page of the listing.
        case list(ChargeListQuery)
    }

    /// Charges created at or after this Unix second.
    var createdFrom: Int?
    /// Charges created before this Unix second.
    var createdBefore: Int?
    /// Only the charges of this order reference.
    var orderReference: String?
    /// Charges on the page.
    var limit: Int = ChargeListQuery.defaultLimit
    /// The page starts after this charge (in the listing's order: `created`, then `id`).
    var startingAfter: String?

    /// Charges on a page when `limit` is not given.
    static let defaultLimit = 10
    /// The most charges on a page.
    static let maximumLimit = 100
    /// The largest `created` bound accepted: the year 5138, far past any charge.
    static let maximumTimestamp = 99_999_999_999

    static let knownParameters = [
        "idempotency_key", "created[gte]", "created[gt]", "created[lt]", "created[lte]", "order_reference", "limit",
        "starting_after",
    ]

    /// Parses `query` (the raw, still percent-encoded query string; `nil` or empty: the first
    /// page of every charge).
    /// - Throws: ``APIError`` 400 `invalid_request` naming the parameter.
    static func parse(_ query: String?) throws(APIError) -> Request {
        var parameters: [String: String] = [:]
        for part in (query ?? "").split(separator: "&", omittingEmptySubsequences: true) {
            let pair = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = pair[0].removingPercentEncoding,
                let value = (pair.count > 1 ? pair[1] : "").removingPercentEncoding
            else {
                throw .invalidRequest("the query string is not valid percent-encoding")
            }
            guard knownParameters.contains(key) else {
                let shown = key.count > 40 ? String(key.prefix(40)) + "…" : key
                throw .invalidRequest(
                    "unknown parameter '\(shown)' (known: \(knownParameters.joined(separator: ", ")))")
            }
            guard parameters[key] == nil else { throw .invalidRequest("parameter '\(key)' is given twice") }
            parameters[key] = value
        }

        if let key = parameters.removeValue(forKey: "idempotency_key") {
            guard parameters.isEmpty else {
                throw .invalidRequest(
                    "idempotency_key looks up one charge and cannot be combined with "
                        + parameters.keys.sorted().joined(separator: ", "))
            }
            try APIError.checkText(key, field: "idempotency_key")
            return .byIdempotencyKey(key)
        }

        var list = ChargeListQuery()
        func timestamp(_ name: String) throws(APIError) -> Int? {
            guard let text = parameters[name] else { return nil }
            guard let value = number(text), value <= maximumTimestamp else {
                throw .invalidRequest(
                    "\(name) must be a Unix time in seconds (0 to \(maximumTimestamp)), not '\(text.prefix(40))'")
            }
            return value
        }
        let gte = try timestamp("created[gte]")
        let gt = try timestamp("created[gt]")
        let lt = try timestamp("created[lt]")
        let lte = try timestamp("created[lte]")
        if gte != nil && gt != nil { throw .invalidRequest("give created[gte] or created[gt], not both") }
        if lt != nil && lte != nil { throw .invalidRequest("give created[lt] or created[lte], not both") }
        // Whole seconds: `> t` is `>= t + 1`, `<= t` is `< t + 1`.
        list.createdFrom = gte ?? gt.map { $0 + 1 }
        list.createdBefore = lt ?? lte.map { $0 + 1 }
        if let from = list.createdFrom, let before = list.createdBefore, from >= before {
            throw .invalidRequest("the created window is empty: its start \(from) is not before its end \(before)")
        }
        if let text = parameters["limit"] {
            guard let limit = number(text), (1...maximumLimit).contains(limit) else {
                throw .invalidRequest("limit must be an integer from 1 to \(maximumLimit), not '\(text.prefix(40))'")
            }
            list.limit = limit
        }
        if let reference = parameters["order_reference"] {
            try APIError.checkText(reference, field: "order_reference")
            list.orderReference = reference
        }
        if let cursor = parameters["starting_after"] {
            try APIError.checkText(cursor, field: "starting_after")
            list.startingAfter = cursor
        }
        return .list(list)
    }

    /// A non-negative decimal integer of at most 12 digits, or `nil`.
    private static func number(_ text: String) -> Int? {
        guard !text.isEmpty, text.count <= 12, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(text)
    }
}
