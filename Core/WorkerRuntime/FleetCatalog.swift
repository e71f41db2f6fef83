import CommerceMessages

/// The one place that names the fleet: for each worker, its application name, queue, the message
/// types it is bound to, and its store. Worker executables, `commerce queues`, and the operator
/// commands that set up topology or handle dead letters read it instead of repeating names.
public enum FleetCatalog {
    /// Where a worker keeps its state.
    public enum Store: Sendable, Hashable {
        /// A PostgreSQL database of its own (with the runtime's inbox and outbox).
        case postgres(database: String)
        /// A MongoDB collection (one document per message, `_id` = message id).
        case mongo(collection: String)
    }

    /// One worker of the fleet.
    public struct Worker: Sendable, Hashable {
        /// `app_id` of what it emits, its log label, and the default name of its queue.
        public var name: String
        /// Its queue (the retry queues and `<queue>.dlq` are named after it).
        public var queue: String
        /// The message types bound to its queue (routing keys on the topic exchange).
        public var consumes: [MessageType]
        /// The message types it emits.
        public var emits: [MessageType]
        public var store: Store

        /// The bindings as routing keys.
        public var bindings: [String] { consumes.map(\.rawValue) }
    }

    /// The topic exchange every message goes through.
    public static let exchange = "commerce"

    public static let orderWorker = Worker(
        name: "order-worker", queue: "order-worker",
        consumes: [
            .orderPlace, .orderCancel, .stockReserved, .stockRejected, .stockReleased, .paymentSucceeded,
            .paymentFailed, .paymentRefunded,
        ],
        emits: [.orderPlaced, .orderRejected, .orderConfirmed, .orderCancelled], store: .postgres(database: "orders"))

    public static let stockWorker = Worker(
        name: "stock-worker", queue: "stock-worker",
        consumes: [.orderPlaced, .paymentFailed, .orderCancelled, .orderConfirmed],
        emits: [.stockReserved, .stockRejected, .stockReleased], store: .postgres(database: "inventory"))

    public static let paymentWorker = Worker(
        name: "payment-worker", queue: "payment-worker",
        consumes: [.stockReserved, .orderCancelled],
        emits: [.paymentSucceeded, .paymentFailed, .paymentRefunded], store: .postgres(database: "payments"))

    public static let notificationWorker = Worker(
        name: "notification-worker", queue: "notification-worker",
        consumes: [.orderConfirmed, .orderCancelled, .orderRejected, .paymentRefunded], emits: [],
        store: .mongo(collection: "notifications"))

    /// The saga's workers, in the order a message meets them.
    public static let workers = [orderWorker, stockWorker, paymentWorker, notificationWorker]

    /// Every message type of the contract, as routing keys.
    public static let contractTypes = Set(MessageType.allCases.map(\.rawValue))

    /// The worker whose queue is `queue`, if it is one of the fleet's.
    public static func worker(queue: String) -> Worker? { workers.first { $0.queue == queue } }
}
