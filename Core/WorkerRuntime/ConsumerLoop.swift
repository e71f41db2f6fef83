/// The processing side of a consumer, whatever its store: ``WorkerService`` runs `run()` on a
/// dedicated thread and calls `requestStop()` on shutdown.
protocol ConsumerLoop: AnyObject, Sendable {
    /// The thread's body; returns after a stop request once in-flight work is settled.
    func run()
    func requestStop()
    /// Whether the consumer's store is reachable (for `/health`).
    var isDatabaseUp: Bool { get }
}
