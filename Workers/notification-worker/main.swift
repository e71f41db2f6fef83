// notification-worker: records one customer notification per terminal order event and per
// refund, as a MongoDB document whose `_id` is the event's message id (docs/saga.md). Wiring only:
// the handler and the text live in Core/Notifications.
import Notifications
import WorkerApp
import WorkerRuntime

await WorkerApplication.run(
    appID: FleetCatalog.notificationWorker.name, defaultQueue: FleetCatalog.notificationWorker.queue,
    bindings: FleetCatalog.notificationWorker.bindings
) { _, _ in NotificationDocumentHandler() }
