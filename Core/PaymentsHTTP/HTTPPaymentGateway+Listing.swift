import Foundation
import Payments

extension HTTPPaymentGateway: ChargeListing {
    /// The processor's charges in `[createdFrom, createdBefore)`, read page by page from
    /// `GET /v1/charges?created[gte]=…&created[lt]=…&limit=100&starting_after=…` (docs/payment-gateway.md,
    /// "Listing charges") until `has_more` is false. Each page is one call with the adapter's
    /// retries and deadline.
    /// - Throws: ``GatewayError`` naming the page when the processor does not answer, refuses the
    ///   call (the status and its error type: a wrong API key is a 401 or 403) or answers something
    ///   that is not a listing.
    public func listCharges(createdFrom: Int?, createdBefore: Int?) async throws -> [ProcessorCharge] {
        var filters: [String] = []
        if let createdFrom { filters.append("created%5Bgte%5D=\(createdFrom)") }
        if let createdBefore { filters.append("created%5Blt%5D=\(createdBefore)") }
        return try await everyPage(filters)
    }

    /// The charges of one order reference (`GET /v1/charges?order_reference=…`), every page.
    /// - Throws: as ``listCharges(createdFrom:createdBefore:)``.
    public func listCharges(orderReference: String) async throws -> [ProcessorCharge] {
        try await everyPage(["order_reference=\(Self.queryValue(orderReference))"])
    }

    /// Every page of the listing with `filters`, following `starting_after` until `has_more` is false.
    private func everyPage(_ filters: [String]) async throws -> [ProcessorCharge] {
        var charges: [ProcessorCharge] = []
        var cursor: String?
        while true {
            var parameters = filters + ["limit=\(Self.listingPageSize)"]
            if let cursor { parameters.append("starting_after=\(Self.queryValue(cursor))") }
            let path = "/v1/charges?" + parameters.joined(separator: "&")
            let page = try await listingPage(path)
            charges += page.data.map(\.processorCharge)
            guard page.hasMore else { return charges }
            guard let last = page.data.last?.id, last != cursor else {
                throw GatewayError("GET \(path) says more charges follow but gave no charge to continue after")
            }
            cursor = last
        }
    }

    /// Charges asked for per page: the processor's largest page.
    public static let listingPageSize = 100

    private func listingPage(_ path: String) async throws -> ListingPage {
        let answer = try await send(.GET, path, body: nil, key: nil)
        guard answer.status == 200 else {
            let detail = Self.errorBody(answer).map { " \($0.type): \($0.message)" } ?? ""
            throw GatewayError("GET \(path) answered \(answer.status)\(detail)")
        }
        do {
            return try JSONDecoder().decode(ListingPage.self, from: answer.body)
        } catch {
            throw GatewayError("GET \(path) answered 200 with a body that is not a list of charges: \(error)")
        }
    }
}

// MARK: Wire format of the listing (docs/payment-gateway.md)

private struct ListingPage: Decodable {
    struct Charge: Decodable {
        struct Refund: Decodable {
            var id: String
            var amount: Int
        }

        var id: String
        var status: String
        var amount: Int
        var currency: String
        var orderReference: String
        var created: Int
        var refunds: [Refund]

        enum CodingKeys: String, CodingKey {
            case id, status, amount, currency, created, refunds
            case orderReference = "order_reference"
        }

        var processorCharge: ProcessorCharge {
            ProcessorCharge(
                id: id, orderReference: orderReference, isCaptured: status == "captured", amount: amount,
                currency: currency, created: created, refunds: refunds.map { .init(id: $0.id, amount: $0.amount) })
        }
    }

    var data: [Charge]
    var hasMore: Bool

    enum CodingKeys: String, CodingKey {
        case data
        case hasMore = "has_more"
    }
}
