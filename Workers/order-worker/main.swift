// order-worker: validates, prices and stores orders, and moves each through the saga
// (docs/saga.md). Wiring only: the logic is in Core/Ordering.
import Foundation
import Ordering
import WorkerApp
import WorkerRuntime

await WorkerApplication.run(
    appID: FleetCatalog.orderWorker.name, defaultQueue: FleetCatalog.orderWorker.queue,
    bindings: FleetCatalog.orderWorker.bindings
) { reader, logger in
    // Relative paths are taken from the working directory, like `config/order-worker.json`.
    let pricingPath = reader.string(forKey: "pricing.file", default: "config/pricing.json")
    let couponsPath = reader.string(forKey: "coupons.file", default: "config/coupons.json")
    func contents(_ path: String, key: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw WorkerConfigurationError(key: key, problem: "names a file that cannot be read: \(path)")
        }
        return data
    }
    let service: OrderingService
    do {
        service = try OrderingService(
            pricingDocument: try contents(pricingPath, key: "pricing.file"),
            couponsDocument: try contents(couponsPath, key: "coupons.file"))
    } catch let error as WorkerConfigurationError {
        throw error
    } catch {
        throw WorkerConfigurationError(key: "pricing.file", problem: "or coupons.file is invalid: \(error)")
    }
    logger.info("pricing from \(pricingPath); \(service.couponCount) coupon(s) from \(couponsPath)")
    let deadline = reader.int(forKey: "saga.deadlineMs", default: 600_000)
    let sweepInterval = reader.int(forKey: "saga.sweepIntervalMs", default: 1_000)
    guard deadline > 0, sweepInterval > 0 else {
        throw WorkerConfigurationError(key: "saga.deadlineMs", problem: "and saga.sweepIntervalMs must be positive")
    }
    return OrderHandler(
        service: service, deadline: .milliseconds(deadline), sweepInterval: .milliseconds(sweepInterval))
}
