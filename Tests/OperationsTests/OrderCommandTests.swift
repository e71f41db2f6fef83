import CommerceMessages
import CommerceTestKit
import Foundation
import Inventory
import Mongo
import Postgres
import Testing

/// `commerce place-order`, `commerce cancel-order` and `commerce audit`, run as the built binary
/// against the four workers of `SagaDriver.startFleet` on an exchange and stores of the test's own.
@Suite("commerce place-order, cancel-order and audit", .serialized)
struct OrderCommandTests {
    typealias Run = CommerceRun

    private func commerce(_ arguments: [String]) throws -> Run { try runCommerce(arguments) }

    private func publishing(_ fixture: ServiceFixture) -> [String] {
        ["--exchange", fixture.exchange, "--amqp-url", TestServers.amqpURL]
    }

    private func stores(_ fixture: ServiceFixture) throws -> [String] {
        [
            "--orders-database", try fixture.databaseURL(for: "orders"),
            "--inventory-database", try fixture.databaseURL(for: "inventory"),
            "--payments-database", try fixture.databaseURL(for: "payments"),
            "--mongo-url", TestServers.mongoURL, "--mongo-database", fixture.mongoDatabase,
        ]
    }

    /// The fixture's card processor, whose charges the audit reconciles (invariant 6).
    private func processor(_ fixture: ServiceFixture) throws -> [String] {
        let gateway = try #require(fixture.gateway, "SagaDriver.startFleet starts a payment-gateway")
        return [
            "--payment-gateway", "http", "--payment-gateway-url", gateway.baseURL,
            "--payment-gateway-api-key", gateway.apiKey,
        ]
    }

    /// `commerce audit --json`: its exit status and report.
    private func audit(
        _ fixture: ServiceFixture, processor arguments: [String]? = nil
    ) throws -> (Int32, [String: Any]) {
        let run = try commerce(["audit", "--json"] + stores(fixture) + (arguments ?? processor(fixture)))
        return (run.status, try run.requiredJSON())
    }

    /// The report's entry for invariant `number`.
    private func invariant(_ number: Int, in report: [String: Any]) -> [String: Any] {
        (report["invariants"] as? [[String: Any]] ?? []).first { $0["number"] as? Int == number } ?? [:]
    }

    private func validOrder(_ id: String) -> String {
        """
        {"order_id": "\(id)", "customer": {"id": "c-1001", "email": "kim@example.com", "membership": "gold"},
         "currency": "KRW", "items": [{"sku": "KB-001", "name": "Keyboard", "quantity": 2, "unit_price": 45000}],
         "shipping_address": {"street": "Teheran-ro 123", "city": "Seoul", "postal_code": "06234", "country": "KR", "detail": "5F"},
         "payment_token": "tok_approve", "coupon_code": "SUMMER20"}
        """
    }

    private func write(_ text: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("order-\(UUID().uuidString).json")
        try Data(text.utf8).write(to: url)
        return url.path
    }

    @Test("place from a file and samples, cancel, audit clean; then corrupted stores fail the audit per invariant")
    func placeCancelAudit() throws {
        let (fixture, _) = try SagaDriver().startFleet(stock: [
            StockSeed(sku: "KB-001", quantity: 100), StockSeed(sku: "MS-001", quantity: 100),
            StockSeed(sku: "CB-001", quantity: 100),
        ])
        defer { try? MongoClient(uri: TestServers.mongoURL).dropDatabase(fixture.mongoDatabase) }

        // A valid order from a file ends confirmed.
        let id = UUID().uuidString.lowercased()
        let file = try write(validOrder(id))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let placed = try commerce(["place-order", "--file", file, "--json"] + publishing(fixture))
        #expect(placed.status == 0, "\(placed.stderr)")
        #expect(try placed.requiredJSON()["order_ids"] as? [String] == [id])
        var events = try SagaDriver().terminalEvents(fixture, count: 1)
        guard case .orderConfirmed? = events[id]?.last else {
            Issue.record("expected order.confirmed for \(id), got \(String(describing: events[id]))")
            return
        }
        var (status, report) = try waitUntil(
            "a clean audit", timeout: .seconds(30), poll: .milliseconds(500), { try audit(fixture) }
        ) {
            $0.0 == 0
        }
        #expect(status == 0, "\(report)")
        let counts = report["counts"] as? [String: Any] ?? [:]
        #expect(counts["orders"] as? Int == 1)
        #expect((counts["orders_by_status"] as? [String: Int]) == ["CONFIRMED": 1])
        #expect((counts["notifications_by_event_type"] as? [String: Int]) == ["order.confirmed": 1])
        #expect(report["clean"] as? Bool == true)

        // Eight samples: eight ids printed, each reaches a terminal event.
        let samples = try commerce(["place-order", "--sample", "8", "--rate", "50"] + publishing(fixture))
        #expect(samples.status == 0, "\(samples.stderr)")
        let ids = samples.stdout.split(separator: "\n").map(String.init)
        #expect(ids.count == 8 && Set(ids).count == 8, "\(samples.stdout)")
        events = try SagaDriver().terminalEvents(fixture, count: 8)
        #expect(Set(events.keys) == Set(ids), "every sample ended: \(events.keys.sorted()) vs \(ids.sorted())")
        let confirmed = ids.filter { if case .orderConfirmed? = events[$0]?.last { true } else { false } }
        #expect(confirmed.count == 5, "four approvals and the card that fails twice")

        // A cancel after confirmation.
        let cancelled = try commerce(["cancel-order", id, "--reason", "changed my mind"] + publishing(fixture))
        #expect(cancelled.status == 0, "\(cancelled.stderr)")
        #expect(cancelled.stdout == "\(id)\n")
        events = try SagaDriver().terminalEvents(fixture, count: 1)
        if case .orderCancelled(let event)? = events[id]?.last {
            #expect(event.reason == .customerRequest)
            #expect(event.previousStatus == .confirmed)
        } else {
            Issue.record("expected order.cancelled for \(id), got \(String(describing: events[id]))")
        }

        // A body the contract refuses: exit 64 naming the field, nothing published.
        let bad = try write(validOrder(id).replacingOccurrences(of: #""quantity": 2"#, with: #""quantity": "2""#))
        defer { try? FileManager.default.removeItem(atPath: bad) }
        let refused = try commerce(["place-order", "--file", bad] + publishing(fixture))
        #expect(refused.status == 64)
        #expect(refused.stderr.contains("items[0].quantity"), "\(refused.stderr)")
        #expect(refused.stdout.isEmpty)

        (status, report) = try waitUntil(
            "a clean audit", timeout: .seconds(30), poll: .milliseconds(500), { try audit(fixture) }
        ) { $0.0 == 0 }
        #expect(status == 0, "\(report)")
        #expect((report["counts"] as? [String: Any])?["orders"] as? Int == 9)
        let reconciled = report["reconciliation"] as? [String: Any] ?? [:]
        #expect(reconciled["status"] as? String == "checked", "\(reconciled)")
        #expect((reconciled["charges"] as? Int ?? 0) >= 7, "every payment the samples reached: \(reconciled)")
        #expect(invariant(6, in: report)["holds"] as? Bool == true)

        // The processor's books against the outcomes (invariant 6), read through its API: a
        // capture kept for the cancelled order with no record in the fleet, and a charge for an
        // order nobody placed, both made behind the fleet's back.
        let gateway = try #require(fixture.gateway)
        let kept = try gateway.chargeWaiting(token: "tok_approve", key: "stray:\(id)", amount: 5_000, order: id)
        #expect(kept.status == 201, "\(kept.body)")
        let ghost = "ghost-\(UUID().uuidString.lowercased())"
        let unknown = try gateway.chargeWaiting(
            token: "tok_approve", key: "stray:\(ghost)", amount: 7_000, order: ghost)
        #expect(unknown.status == 201, "\(unknown.body)")
        (status, report) = try audit(fixture)
        #expect(status == 1)
        #expect(invariant(6, in: report)["holds"] as? Bool == false)
        #expect(
            invariant(6, in: report)["order_ids"] as? [String] == [ghost, id].sorted(), "\(invariant(6, in: report))")
        for number in 1...5 { #expect(invariant(number, in: report)["holds"] as? Bool == true, "\(number): \(report)") }
        let differences = try commerce(["audit"] + stores(fixture) + processor(fixture))
        #expect(differences.status == 1)
        #expect(differences.stdout.contains("✗ invariant 6:"), "\(differences.stdout)")
        #expect(differences.stdout.contains("CANCELLED but the processor kept 5000"), "\(differences.stdout)")

        // A processor that cannot be read fails the audit; the sandbox is said not to be checked.
        let closed = WorkerProcess.freePort()
        (status, report) = try audit(
            fixture,
            processor: ["--payment-gateway-url", "http://127.0.0.1:\(closed)", "--payment-gateway-api-key", "k"])
        #expect(status == 1)
        #expect((report["reconciliation"] as? [String: Any])?["status"] as? String == "failed", "\(report)")
        let unreadable = invariant(6, in: report)["violations"] as? [[String: Any]] ?? []
        #expect(unreadable.first?["subject"] as? String == "the card processor", "\(unreadable)")
        // The sandbox's books are not read: the stray charges go unseen, and the report says so.
        (status, report) = try audit(fixture, processor: ["--payment-gateway", "sandbox"])
        #expect(status == 0, "\(report)")
        #expect(invariant(6, in: report)["checked"] as? Bool == false)
        #expect((report["reconciliation"] as? [String: Any])?["status"] as? String == "not_checked")
        let sandbox = try commerce(["audit", "--payment-gateway", "sandbox"] + stores(fixture))
        #expect(
            sandbox.stdout.contains("– invariant 6 (the reconciliation with the card processor) not checked"),
            "\(sandbox.stdout)")
        // Refund the stray capture and void the unknown order's: reconciled again.
        for (exchange, amount) in [(kept, 5_000), (unknown, 7_000)] {
            let charge = exchange.json["id"] as? String ?? ""
            let refund = try gateway.refundWaiting(charge: charge, amount: amount, key: "stray-refund:\(charge)")
            #expect(refund.status == 201, "\(refund.body)")
        }
        (status, report) = try audit(fixture)
        #expect(
            invariant(6, in: report)["order_ids"] as? [String] == [ghost],
            "a charge of an unknown order stays a difference")

        // Corrupt one store per invariant: each audit names the new broken invariant and its order.
        guard confirmed.count >= 3 else { return }
        let orders = try TestServers.postgres(url: try fixture.databaseURL(for: "orders"))
        let payments = try TestServers.postgres(url: try fixture.databaseURL(for: "payments"))
        let inventory = try TestServers.postgres(url: try fixture.databaseURL(for: "inventory"))
        try orders.query("update orders set status = 'PENDING' where order_id = $1", [.text(confirmed[0])])
        (status, report) = try audit(fixture)
        #expect(status == 1)
        #expect(invariant(1, in: report)["holds"] as? Bool == false)
        #expect(invariant(1, in: report)["order_ids"] as? [String] == [confirmed[0]])

        try payments.query("delete from payment_ledger where order_id = $1", [.text(confirmed[1])])
        (status, report) = try audit(fixture)
        #expect(status == 1)
        #expect((invariant(2, in: report)["order_ids"] as? [String] ?? []).contains(confirmed[1]))

        #expect(invariant(4, in: report)["holds"] as? Bool == true)
        try inventory.query("update stock set available = available + 1 where sku = 'KB-001'")
        (status, report) = try audit(fixture)
        #expect(status == 1)
        let stock = invariant(4, in: report)["violations"] as? [[String: Any]] ?? []
        #expect(stock.contains { $0["sku"] as? String == "KB-001" }, "\(invariant(4, in: report))")

        let client = try MongoClient(uri: TestServers.mongoURL)
        let notifications = client.collection("notifications", in: fixture.mongoDatabase)
        // The worker's unique (order_id, event_type) index would refuse the duplicate: a store
        // corrupted behind the workers' back has lost it too.
        _ = try client.runCommand(
            ["dropIndexes": "notifications", "index": "order_id_1_event_type_1"], database: fixture.mongoDatabase)
        var copy = try #require(try notifications.findOne(["order_id": .string(confirmed[2])]))
        copy["_id"] = .string(UUID().uuidString.lowercased())
        _ = try notifications.insertOne(copy)
        (status, report) = try audit(fixture)
        #expect(status == 1)
        #expect((invariant(5, in: report)["order_ids"] as? [String] ?? []).contains(confirmed[2]))
        #expect(invariant(3, in: report)["holds"] as? Bool == true)

        // The text report groups the violations by invariant, and exits 1 with one error line.
        let text = try commerce(["audit"] + stores(fixture) + processor(fixture))
        #expect(text.status == 1)
        for number in [1, 2, 4, 5, 6] { #expect(text.stdout.contains("✗ invariant \(number):"), "\(text.stdout)") }
        #expect(text.stdout.contains(confirmed[0]))
        #expect(text.stderr.hasPrefix("Error: "), "\(text.stderr)")
    }

    @Test("an order.place nobody's queue is bound for is returned: exit 1, run commerce setup")
    func unroutable() throws {
        let fixture = try ServiceFixture()
        let run = try commerce(["place-order", "--sample", "1"] + publishing(fixture))
        #expect(run.status == 1)
        #expect(run.stderr.contains("unroutable") && run.stderr.contains("commerce setup"), "\(run.stderr)")
        #expect(run.stdout.isEmpty)
        let missing = try commerce([
            "cancel-order", "o-1", "--exchange", "no-such-\(fixture.suffix)", "--amqp-url", TestServers.amqpURL,
        ])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("commerce setup"), "\(missing.stderr)")
    }
}
