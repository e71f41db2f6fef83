// stock-worker: reserves an order's stock all or nothing on `order.placed`, sells it on
// `order.confirmed`, and releases or restocks it on `payment.failed` and `order.cancelled`
// (docs/saga.md). The rules live in Core/Inventory; this file only wires them to the runtime.
//
// `stock.seedFile` (STOCK_SEED_FILE) names a stock seed applied once the database answers;
// without it, `config/stock.json` is used when it exists.
import Configuration
import Inventory
import WorkerApp
import WorkerRuntime

await WorkerApplication.run(
    appID: FleetCatalog.stockWorker.name, defaultQueue: FleetCatalog.stockWorker.queue,
    bindings: FleetCatalog.stockWorker.bindings
) { reader, logger in
    // Read here, not at connect: a bad seed file is a configuration error (exit 78), not an outage.
    let seed: StockCatalog?
    do {
        seed = try StockCatalog.configured(path: reader.string(forKey: "stock.seedFile"))
    } catch {
        throw WorkerConfigurationError(key: "stock.seedFile", problem: "\(error)")
    }
    return StockHandler(seed: seed, logger: logger)
}
