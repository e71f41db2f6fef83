import CommerceMessages
import Testing

@testable import WorkerRuntime

@Suite("FleetCatalog")
struct FleetCatalogTests {
    @Test("the fleet is four workers with distinct queues, in the order a message meets them")
    func fourWorkers() {
        let queues = FleetCatalog.workers.map(\.queue)
        #expect(queues == ["order-worker", "stock-worker", "payment-worker", "notification-worker"])
        #expect(Set(queues).count == 4)
        #expect(Set(FleetCatalog.workers.map(\.name)).count == 4)
    }

    @Test("the contract types are every MessageType's raw value")
    func contractTypes() {
        #expect(FleetCatalog.contractTypes.count == MessageType.allCases.count)
        #expect(FleetCatalog.contractTypes.contains("order.place"))
        #expect(FleetCatalog.contractTypes.contains("payment.refunded"))
    }

    @Test("every binding of every worker is a contract type", arguments: FleetCatalog.workers.map(\.queue))
    func bindingsAreContractTypes(queue: String) throws {
        let worker = try #require(FleetCatalog.worker(queue: queue))
        #expect(!worker.bindings.isEmpty)
        #expect(worker.bindings.allSatisfy(FleetCatalog.contractTypes.contains))
        #expect(worker.bindings == worker.consumes.map(\.rawValue))
    }

    @Test("every event the fleet emits is consumed by some worker")
    func emittedAreConsumed() {
        let consumed = Set(FleetCatalog.workers.flatMap(\.consumes))
        let emitted = Set(FleetCatalog.workers.flatMap(\.emits))
        #expect(emitted.subtracting(consumed).isEmpty)
    }

    @Test("worker(queue:) finds a worker by its queue and nothing for another queue")
    func lookup() {
        #expect(FleetCatalog.worker(queue: "payment-worker") == FleetCatalog.paymentWorker)
        #expect(FleetCatalog.worker(queue: "stock-worker")?.name == "stock-worker")
        #expect(FleetCatalog.worker(queue: "unknown-worker") == nil)
        #expect(FleetCatalog.worker(queue: "payment-worker.dlq") == nil)
        #expect(FleetCatalog.worker(queue: "") == nil)
    }

    @Test("the notification worker keeps its state in MongoDB; the others in PostgreSQL databases of their own")
    func stores() {
        #expect(FleetCatalog.notificationWorker.store == .mongo(collection: "notifications"))
        #expect(FleetCatalog.orderWorker.store == .postgres(database: "orders"))
        #expect(FleetCatalog.stockWorker.store == .postgres(database: "inventory"))
        #expect(FleetCatalog.paymentWorker.store == .postgres(database: "payments"))
    }

    @Test("messages go through the commerce exchange")
    func exchange() {
        #expect(FleetCatalog.exchange == "commerce")
    }
}
