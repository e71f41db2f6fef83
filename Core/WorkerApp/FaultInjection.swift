import Foundation
import Glibc
import Logging
import Synchronization
import WorkerRuntime

/// Crash points for fault-injection runs (`commerce-lab chaos`), set by environment variables and off
/// unless set. Each kills the process with SIGKILL, the way a power cut or the OOM killer would, at
/// the two moments that matter for exactly-once effects (docs/architecture.md, "Guarantees"):
///
/// - `COMMERCE_FAULT_CRASH_AFTER_COMMIT_BATCH=N`: after the N-th batch's transaction committed and
///   before its outbox is published (the relay of the next copy must publish it);
/// - `COMMERCE_FAULT_CRASH_BEFORE_ACK_BATCH=N`: after the N-th batch's outgoing messages were
///   confirmed by the broker and before its deliveries are acknowledged (they are redelivered and
///   must be recognised as duplicates).
///
/// Counted per process, batches with at least one applied message only.
enum FaultInjection {
    static let afterCommitVariable = "COMMERCE_FAULT_CRASH_AFTER_COMMIT_BATCH"
    static let beforeAckVariable = "COMMERCE_FAULT_CRASH_BEFORE_ACK_BATCH"

    static func install(in configuration: inout WorkerConfiguration, environment: [String: String], logger: Logger) {
        if let batch = environment[afterCommitVariable].flatMap(Int.init), batch >= 1 {
            logger.warning("fault injection: SIGKILL after a commit", metadata: ["batch": "\(batch)"])
            configuration.afterCommit = crash(at: batch, moment: "after the commit, before the publish", logger: logger)
        }
        if let batch = environment[beforeAckVariable].flatMap(Int.init), batch >= 1 {
            logger.warning("fault injection: SIGKILL before an ack", metadata: ["batch": "\(batch)"])
            configuration.beforeAck = crash(
                at: batch, moment: "after the confirmed publish, before the ack", logger: logger)
        }
    }

    private static func crash(at batch: Int, moment: String, logger: Logger) -> @Sendable ([String]) -> Void {
        let seen = Mutex(0)
        return { messageIDs in
            guard !messageIDs.isEmpty else { return }
            let count = seen.withLock { count in
                count += 1
                return count
            }
            guard count == batch else { return }
            logger.critical(
                "fault injection: SIGKILL \(moment)",
                metadata: ["batch": "\(batch)", "messages": "\(messageIDs.count)"])
            kill(getpid(), SIGKILL)
        }
    }
}
