import CommerceTestKit
import Foundation
import Logging
import NIOHTTP1
import Payments
import PaymentsHTTP
import Resilience
import Testing

/// The card processor's charge listing, `GET /v1/charges` (docs/payment-gateway.md, "Listing
/// charges"), against a real `payment-gateway` process: pages and their cursor, the filters, the
/// refunds of each charge, authentication, bad parameters; and the HTTP adapter's reader of it,
/// which the audit's reconciliation uses.
@Suite("Payment gateway charge listing")
struct PaymentGatewayListingTests {
    private func newKey() -> String { "charge:order-\(UUID().uuidString.lowercased())" }

    /// Charges for the tests: `(order reference, token, amount, refunds)`, created in this order.
    private static let book: [(order: String, token: String, amount: Int, refunds: [Int])] = [
        ("order-a", "tok_approve", 10_000, []),
        ("order-a", "tok_approve", 20_000, [20_000]),
        ("order-b", "tok_decline", 30_000, []),
        ("order-c", "tok_approve", 40_000, [15_000, 5_000]),
        ("order-d", "tok_approve", 50_000, []),
        ("order-e", "tok_insufficient_funds", 60_000, []),
        ("order-f", "tok_approve", 70_000, [1]),
    ]

    /// Creates ``book``'s charges and refunds; returns the charge ids in creation order.
    private func fill(_ gateway: GatewayProcess) async throws -> [String] {
        var ids: [String] = []
        for entry in Self.book {
            let charge = try await gateway.charge(
                token: entry.token, key: newKey(), amount: entry.amount, order: entry.order)
            #expect(charge.status == 201, "\(charge.body)")
            let id = try #require(charge.json["id"] as? String)
            ids.append(id)
            for (index, amount) in entry.refunds.enumerated() {
                let refund = try await gateway.send(
                    .POST, "/v1/refunds", json: #"{"charge":"\#(id)","amount":\#(amount)}"#,
                    key: "refund:\(id):\(index)")
                #expect(refund.status == 201, "\(refund.body)")
            }
        }
        return ids
    }

    @Test(
        "pages of `limit` charges follow each other by starting_after, each charge with its refunds, until has_more is false"
    )
    func pagination() async throws {
        let database = try TestDatabase(prefix: "gw")
        let gateway = try GatewayProcess(databaseURL: database.url, name: "gateway-listing-pages")
        let ids = try await fill(gateway)

        var seen: [[String: Any]] = []
        var cursor: String?
        var pages: [Int] = []
        var more = true
        while more {
            let path = "/v1/charges?limit=3" + (cursor.map { "&starting_after=\($0)" } ?? "")
            let page = try await gateway.send(.GET, path)
            #expect(page.status == 200, "\(page.body)")
            #expect(page.json["object"] as? String == "list")
            #expect(page.json["url"] as? String == "/v1/charges")
            let data = try #require(page.json["data"] as? [[String: Any]], "\(page.body)")
            pages.append(data.count)
            seen += data
            more = try #require(page.json["has_more"] as? Bool)
            cursor = data.last?["id"] as? String
            if pages.count > 5 { break }
        }
        #expect(pages == [3, 3, 1])
        let listed = seen.compactMap { $0["id"] as? String }
        #expect(listed.count == ids.count && Set(listed) == Set(ids), "every charge once: \(listed) vs \(ids)")
        let order = seen.map { ($0["created"] as? Int ?? -1, $0["id"] as? String ?? "") }
        #expect(zip(order, order.dropFirst()).allSatisfy { $0 < $1 }, "in the order (created, id): \(order)")

        for (entry, id) in zip(Self.book, ids) {
            let charge = try #require(seen.first { $0["id"] as? String == id })
            #expect(charge["order_reference"] as? String == entry.order)
            #expect(charge["amount"] as? Int == entry.amount)
            let refunds = charge["refunds"] as? [[String: Any]] ?? []
            #expect(refunds.compactMap { $0["amount"] as? Int }.sorted() == entry.refunds.sorted(), "\(charge)")
            #expect(refunds.allSatisfy { $0["charge"] as? String == charge["id"] as? String })
            #expect(charge["amount_refunded"] as? Int == entry.refunds.reduce(0, +))
            #expect(charge["status"] as? String == (entry.token == "tok_approve" ? "captured" : "declined"))
        }

        // Without a limit: the first 10; the lookup by key still answers one charge.
        let all = try await gateway.send(.GET, "/v1/charges")
        #expect((all.json["data"] as? [Any])?.count == 7)
        #expect(all.json["has_more"] as? Bool == false)
        let key = newKey()
        _ = try await gateway.charge(token: "tok_approve", key: key, order: "order-g")
        let byKey = try await gateway.send(.GET, "/v1/charges?idempotency_key=\(key)")
        #expect(byKey.status == 200)
        #expect(byKey.json["order_reference"] as? String == "order-g")
        #expect(byKey.json["object"] as? String == "charge")
    }

    @Test("filters: order_reference, and the created window in Unix seconds (percent-encoded brackets too)")
    func filters() async throws {
        let database = try TestDatabase(prefix: "gw")
        let gateway = try GatewayProcess(databaseURL: database.url, name: "gateway-listing-filters")
        let ids = try await fill(gateway)

        let orderA = try await gateway.send(.GET, "/v1/charges?order_reference=order-a")
        #expect(orderA.status == 200, "\(orderA.body)")
        let dataA = orderA.json["data"] as? [[String: Any]] ?? []
        #expect(Set(dataA.compactMap { $0["id"] as? String }) == Set(ids.prefix(2)))
        let none = try await gateway.send(.GET, "/v1/charges?order_reference=order-zzz")
        #expect((none.json["data"] as? [Any])?.isEmpty == true)

        let every = try await gateway.send(.GET, "/v1/charges?limit=100")
        let created = (every.json["data"] as? [[String: Any]] ?? []).compactMap { $0["created"] as? Int }
        let first = try #require(created.min())
        let last = try #require(created.max())
        for (query, expected) in [
            ("created[gte]=\(first)&created[lt]=\(last + 1)", 7),
            ("created%5Bgte%5D=\(first)&created%5Blt%5D=\(last + 1)", 7),
            ("created[gt]=\(last)", 0),
            ("created[gte]=\(last + 1)", 0),
            ("created[lt]=\(first)", 0),
            ("created[lte]=\(last)", 7),
        ] {
            let page = try await gateway.send(.GET, "/v1/charges?limit=100&\(query)")
            #expect(page.status == 200, "\(query): \(page.body)")
            #expect((page.json["data"] as? [Any])?.count == expected, "\(query): \(page.body)")
        }
    }

    @Test("the listing needs the API key: 401 without one, 403 with another, and shows nothing")
    func authentication() async throws {
        let database = try TestDatabase(prefix: "gw")
        let gateway = try GatewayProcess(databaseURL: database.url, name: "gateway-listing-auth")
        _ = try await gateway.charge(token: "tok_approve", key: newKey(), order: "order-secret")
        let none = try await gateway.send(.GET, "/v1/charges?limit=10", authorization: "")
        #expect(none.status == 401)
        #expect(none.errorType == "authentication_required")
        #expect(!none.body.contains("order-secret"))
        let wrong = try await gateway.send(.GET, "/v1/charges", authorization: "Bearer sk_test_wrong")
        #expect(wrong.status == 403)
        #expect(wrong.errorType == "invalid_api_key")
    }

    @Test(
        "a bad parameter is a 400 invalid_request naming it, never the whole list",
        arguments: [
            ("limit=0", "limit must be an integer from 1 to 100"),
            ("limit=101", "limit must be an integer from 1 to 100"),
            ("limit=ten", "limit must be an integer from 1 to 100"),
            ("limit=-1", "limit must be an integer from 1 to 100"),
            ("created[gte]=yesterday", "created[gte] must be a Unix time in seconds"),
            ("created[lt]=1.5", "created[lt] must be a Unix time in seconds"),
            ("created[gte]=100&created[gt]=100", "not both"),
            ("created[gte]=200&created[lt]=100", "the created window is empty"),
            ("status=captured", "unknown parameter 'status'"),
            ("created=5", "unknown parameter 'created'"),
            ("limit=2&limit=3", "parameter 'limit' is given twice"),
            ("starting_after=ch_nothere", "starting_after: no charge 'ch_nothere'"),
            ("idempotency_key=k&limit=2", "cannot be combined with limit"),
            ("idempotency_key=", "idempotency_key must be 1 to 255 characters"),
            ("order_reference=", "order_reference must be 1 to 255 characters"),
            ("limit=", "limit must be an integer from 1 to 100"),
        ])
    func badParameters(query: String, says: String) async throws {
        let database = try TestDatabase(prefix: "gw")
        let gateway = try GatewayProcess(databaseURL: database.url, name: "gateway-listing-bad")
        _ = try await gateway.charge(token: "tok_approve", key: newKey())
        let answer = try await gateway.send(.GET, "/v1/charges?\(query)")
        #expect(answer.status == 400, "\(query): \(answer.body)")
        #expect(answer.errorType == "invalid_request", "\(query): \(answer.body)")
        let message = (answer.json["error"] as? [String: Any])?["message"] as? String ?? ""
        #expect(message.contains(says), "\(query): \(message)")
        #expect(answer.json["data"] == nil)
    }

    @Test(
        "the adapter reads every page (more than one of 100) with the refunds, as ProcessorCharge; a refused key throws"
    )
    func adapterReadsEveryPage() async throws {
        let database = try TestDatabase(prefix: "gw")
        let gateway = try GatewayProcess(databaseURL: database.url, name: "gateway-listing-adapter")
        let ids = try await fill(gateway)
        // Past one page of the adapter's 100.
        for index in 0..<(HTTPPaymentGateway.listingPageSize + 3 - Self.book.count) {
            let answer = try await gateway.charge(
                token: "tok_approve", key: newKey(), amount: 100, order: "bulk-\(index)")
            #expect(answer.status == 201)
        }
        let client = HTTPPaymentGateway(
            configuration: HTTPPaymentGateway.Configuration(baseURL: gateway.baseURL, apiKey: gateway.apiKey),
            logger: Logger(label: "listing-test"))
        let refused = HTTPPaymentGateway(
            configuration: HTTPPaymentGateway.Configuration(
                baseURL: gateway.baseURL, apiKey: "sk_test_wrong",
                retry: RetryPolicy(maximumAttempts: 1, backoff: Backoff(initialDelay: .milliseconds(10)))),
            logger: Logger(label: "listing-test"))
        do {
            let charges = try await client.listCharges(createdFrom: nil, createdBefore: nil)
            #expect(charges.count == HTTPPaymentGateway.listingPageSize + 3)
            #expect(Set(charges.map(\.id)).count == charges.count, "no charge twice across pages")
            #expect(Set(ids).isSubset(of: charges.map(\.id)))
            let kept = Dictionary(grouping: charges, by: \.orderReference).mapValues { $0.reduce(0) { $0 + $1.kept } }
            #expect(kept["order-a"] == 10_000, "one capture kept, one refunded in full")
            #expect(kept["order-b"] == 0, "a decline keeps nothing")
            #expect(kept["order-c"] == 20_000)
            #expect(kept["order-f"] == 69_999)
            let orderC = try await client.listCharges(orderReference: "order-c")
            #expect(orderC.map(\.id) == [ids[3]])
            #expect(orderC.first?.refunds.map(\.amount).sorted() == [5_000, 15_000])
            let now = Int(Date().timeIntervalSince1970)
            #expect(try await client.listCharges(createdFrom: now + 10, createdBefore: nil).isEmpty)

            await #expect(throws: GatewayError.self) {
                _ = try await refused.listCharges(createdFrom: nil, createdBefore: nil)
            }
            do {
                _ = try await refused.listCharges(createdFrom: nil, createdBefore: nil)
            } catch {
                #expect("\(error)".contains("403") && "\(error)".contains("invalid_api_key"), "\(error)")
            }
        } catch {
            Issue.record("listing failed: \(error)")
        }
        try await client.shutdown()
        try await refused.shutdown()
    }
}
