// probe-worker: a reference worker on the shared runtime, used by the runtime's integration
// tests and the benchmark. It consumes `probe.work` and emits `probe.done`.
import WorkerApp

await WorkerApplication.run(appID: "probe-worker", defaultQueue: "probe-worker", bindings: ["probe.work"]) { _, _ in
    ProbeHandler(appID: "probe-worker")
}
