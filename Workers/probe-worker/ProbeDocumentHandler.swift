import CommerceMessages
import Foundation
import Mongo
import WorkerRuntime

/// The probe worker's MongoDB mode (`PROBE_STORE=mongo`): the same `probe.work` messages, each
/// recorded as one document in `probe_effects` (its `_id` is the message id), to exercise the
/// runtime's document path the way the notification worker will use it.
struct ProbeDocumentHandler: DocumentHandler {
    let collection = "probe_effects"
    private let work = ProbeHandler(appID: "probe-worker")

    func decode(_ message: IncomingMessage) throws -> ProbeHandler.Work {
        try work.decode(message)
    }

    func document(for message: ProbeHandler.Work, envelope: Envelope, attempts: Int) throws -> Document {
        switch message.action {
        case "fail_transient" where attempts < (message.failures ?? 1):
            throw HandlingFailure.transient("probe_transient", "failing on purpose (attempt \(attempts + 1))")
        case "fail_permanent":
            throw HandlingFailure.permanent("probe_permanent", "failing on purpose")
        default:
            return [
                "correlation_id": .string(envelope.correlationID), "attempts": .int64(Int64(attempts)),
                "recorded_at": .date(Date()),
            ]
        }
    }
}
