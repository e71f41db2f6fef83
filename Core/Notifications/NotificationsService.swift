import WorkerRuntime

/// The Notifications service of the saga (docs/saga.md): the notification worker turns every
/// terminal order event (`order.confirmed`, `order.cancelled`, `order.rejected`) and every
/// `payment.refunded` into one stored customer notification, in MongoDB.
///
/// The pieces: ``NotificationRenderer`` writes the text (pure), ``NotificationDocumentHandler``
/// records it through the runtime's document store (docs/architecture.md, "MongoDB store"), and
/// ``NotificationsAudit`` checks invariant 5 of the saga: one notification per terminal event.
public enum NotificationsService {
    /// The MongoDB collection of the notifications, as named by ``FleetCatalog``.
    public static let collection: String = {
        guard case .mongo(let collection) = FleetCatalog.notificationWorker.store else { return "notifications" }
        return collection
    }()
}
