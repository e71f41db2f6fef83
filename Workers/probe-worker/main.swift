// probe-worker: a reference worker on the shared runtime, used by the runtime's integration
// tests and the benchmark. It consumes `probe.work` and emits `probe.done`; with
// PROBE_STORE=mongo it records each message as a MongoDB document instead (no events); with
// PROBE_PREPARE_MS=N each message first goes through a phase outside the transaction that waits
// N ms (the shape of the payment worker's call to its card processor), and with
// PROBE_DEPENDENCY_DOWN_FILE=PATH that phase meets a dependency outage while PATH exists, and
// with PROBE_OUTAGES_PER_MESSAGE=N the first N preparations of each message meet one.
import Foundation
import Glibc
import WorkerApp
import WorkerRuntime

/// Crash test: die by SIGKILL after the commit of the batch holding this message id and before
/// its outbox is published.
let adjust: (inout WorkerConfiguration, [String: String]) -> Void = { configuration, environment in
    if let target = environment["PROBE_CRASH_AFTER_COMMIT"] {
        configuration.afterCommit = { ids in
            if ids.contains(target) { kill(getpid(), SIGKILL) }
        }
    }
}

if ProcessInfo.processInfo.environment["PROBE_STORE"] == "mongo" {
    await WorkerApplication.run(
        appID: "probe-worker", defaultQueue: "probe-worker", bindings: ["probe.work"], adjust: adjust
    ) { _, _ in ProbeDocumentHandler() }
} else if let milliseconds = ProcessInfo.processInfo.environment["PROBE_PREPARE_MS"].flatMap(Int.init) {
    await WorkerApplication.run(
        appID: "probe-worker", defaultQueue: "probe-worker", bindings: ["probe.work"], adjust: adjust
    ) { _, _ in
        PreparingProbeHandler(
            probe: ProbeHandler(appID: "probe-worker"), delay: .milliseconds(milliseconds),
            dependencyDownFile: ProcessInfo.processInfo.environment["PROBE_DEPENDENCY_DOWN_FILE"],
            outagesPerMessage: ProcessInfo.processInfo.environment["PROBE_OUTAGES_PER_MESSAGE"].flatMap(Int.init) ?? 0)
    }
} else {
    await WorkerApplication.run(
        appID: "probe-worker", defaultQueue: "probe-worker", bindings: ["probe.work"], adjust: adjust
    ) { _, _ in ProbeHandler(appID: "probe-worker") }
}
