// probe-worker: a reference worker on the shared runtime, used by the runtime's integration
// tests and the benchmark. It consumes `probe.work` and emits `probe.done`.
import Glibc
import WorkerApp

await WorkerApplication.run(
    appID: "probe-worker", defaultQueue: "probe-worker", bindings: ["probe.work"],
    adjust: { configuration, environment in
        // Crash test: die by SIGKILL after the commit of the batch holding this message id and
        // before its outbox is published.
        if let target = environment["PROBE_CRASH_AFTER_COMMIT"] {
            configuration.afterCommit = { ids in
                if ids.contains(target) { kill(getpid(), SIGKILL) }
            }
        }
    }
) { _, _ in
    ProbeHandler(appID: "probe-worker")
}
