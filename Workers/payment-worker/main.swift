// payment-worker: charges orders whose stock is reserved and refunds cancelled ones, through the
// card processor named by `payment.gateway` (docs/saga.md). Wiring only: the logic is in
// Core/Payments.
import Payments
import PaymentsHTTP
import Resilience
import WorkerApp
import WorkerRuntime

await WorkerApplication.run(
    appID: FleetCatalog.paymentWorker.name, defaultQueue: FleetCatalog.paymentWorker.queue,
    bindings: FleetCatalog.paymentWorker.bindings
) { reader, logger in
    let (kind, gateway) = try PaymentGatewayFactory.makeGateway(reader: reader, logger: logger)
    let circuit = try GatewayCircuit.configuration(
        failureThreshold: reader.int(forKey: "payment.circuit.failureThreshold", default: 5),
        openTimeoutMs: reader.int(forKey: "payment.circuit.openTimeoutMs", default: 30_000),
        successThreshold: reader.int(forKey: "payment.circuit.successThreshold", default: 3))
    let breaker = GatewayCircuit.make(configuration: circuit, logger: logger)
    let sweep = reader.int(forKey: "payment.refundSweepIntervalMs", default: 5_000)
    guard sweep >= 0 else {
        throw WorkerConfigurationError(key: "payment.refundSweepIntervalMs", problem: "must be ≥ 0 (0: never)")
    }
    let recheckWindow = reader.int(forKey: "payment.tombstoneRecheckWindowMs", default: 600_000)
    let recheckDelay = reader.int(forKey: "payment.tombstoneRecheckFirstDelayMs", default: 5_000)
    guard recheckWindow >= 0 else {
        throw WorkerConfigurationError(key: "payment.tombstoneRecheckWindowMs", problem: "must be ≥ 0 (0: never)")
    }
    guard recheckDelay > 0 else {
        throw WorkerConfigurationError(key: "payment.tombstoneRecheckFirstDelayMs", problem: "must be > 0")
    }
    logger.info("payment gateway", metadata: ["gateway": "\(kind.rawValue)"])
    return PaymentHandler(
        gateway: gateway, breaker: breaker, appID: FleetCatalog.paymentWorker.name,
        refundSweepInterval: sweep == 0 ? nil : .milliseconds(sweep),
        tombstoneRecheck: recheckWindow == 0
            ? nil : TombstoneRecheck(firstDelay: .milliseconds(recheckDelay), window: .milliseconds(recheckWindow)))
}
