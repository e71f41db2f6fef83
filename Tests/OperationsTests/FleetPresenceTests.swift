import AMQP
import CommerceTestKit
import Foundation
import Testing
import WorkerRuntime

/// `commerce status` finding the copies that announce themselves on the fleet's presence stream
/// (`<exchange>.presence`): real probe-workers on ports of their own, a real broker, the binary
/// run as a process without `--worker`.
@Suite("commerce status: the presence stream")
struct FleetPresenceTests {
    private func status(_ fixture: ProbeFixture, _ extra: [String] = []) throws -> CommerceRun {
        try runCommerce(
            [
                "status", "--amqp-url", TestServers.amqpURL, "--queue", fixture.queue, "--exchange", fixture.exchange,
                "--retry-delays-ms", "300,600", "--interval", "0.2",
            ] + extra)
    }

    private func copies(_ run: CommerceRun) -> [[String: Any]] {
        (run.json["presence"] as? [String: Any])?["copies"] as? [[String: Any]] ?? []
    }

    private func copy(_ run: CommerceRun, pid: Int32) -> [String: Any]? {
        copies(run).first { $0["pid"] as? Int == Int(pid) }
    }

    /// The `copy` label of the worker's `commerce_worker_info`, read from its `/metrics`.
    private func metricsCopyID(_ worker: WorkerProcess) -> String? {
        guard let body = worker.http("/metrics")?.1,
            let line = body.split(separator: "\n").first(where: { $0.hasPrefix("commerce_worker_info{") }),
            let range = line.range(of: #"copy=""#)
        else { return nil }
        return String(line[range.upperBound...].prefix { $0 != "\"" })
    }

    @Test(
        "two copies on ports of their own are found without --worker; a stopped one shows stopped, a killed one stale")
    func discoversCopies() throws {
        let fixture = try ProbeFixture()
        let fast = ["PRESENCE_INTERVAL_MS": "300"]
        let first = try fixture.startWorker(fast)
        let second = try fixture.startWorker(fast)
        let pids = [first.process.processIdentifier, second.process.processIdentifier]

        let found = try waitUntil(
            "both copies to be announced", timeout: .seconds(30), { try status(fixture, ["--json"]) }
        ) {
            run in pids.allSatisfy { copy(run, pid: $0)?["state"] as? String == "running" }
        }
        #expect(found.status == 0, "\(found.stderr)")
        let presence = try #require(found.json["presence"] as? [String: Any])
        #expect(presence["stream"] as? String == "\(fixture.exchange).presence")
        #expect(presence["state"] as? String == "present")
        #expect(presence["complete"] as? Bool == true, "\(presence)")
        for (worker, pid) in zip([first, second], pids) {
            let announced = try #require(copy(found, pid: pid), "\(found.stdout)")
            #expect(announced["worker"] as? String == "probe-worker")
            #expect(announced["queue"] as? String == fixture.queue)
            #expect(announced["host"] as? String == ProcessInfo.processInfo.hostName)
            #expect(announced["version"] as? String == "dev")
            #expect(announced["metrics_url"] as? String == "http://127.0.0.1:\(worker.httpPort)/metrics")
            #expect(announced["health_url"] as? String == "http://127.0.0.1:\(worker.httpPort)/health")
            #expect(announced["interval_seconds"] as? Double == 0.3, "\(announced)")
            #expect(announced["published_by"] as? String == "commerce", "\(announced)")
            // The same copy id as its /metrics reports.
            let copyID = try #require(announced["copy_id"] as? String)
            #expect(copyID.count == 8 && copyID == metricsCopyID(worker), "\(announced)")
        }
        // Both copies' endpoints were probed, found through the stream alone.
        let workers = found.json["workers"] as? [[String: Any]] ?? []
        #expect(
            Set(workers.compactMap { $0["url"] as? String })
                == Set([first, second].map { "http://127.0.0.1:\($0.httpPort)" }), "\(found.stdout)")
        #expect(workers.allSatisfy { $0["reachable"] as? Bool == true && $0["ready"] as? Bool == true }, "\(workers)")

        // A graceful stop is announced: the copy shows stopped and is no longer probed.
        first.terminate()
        #expect(first.waitForExit(timeout: .seconds(30)) == 0)
        let stopped = try status(fixture, ["--json"])
        #expect(stopped.status == 0, "\(stopped.stderr)")
        #expect(copy(stopped, pid: pids[0])?["state"] as? String == "stopped", "\(stopped.stdout)")
        #expect(copy(stopped, pid: pids[1])?["state"] as? String == "running", "\(stopped.stdout)")
        let probed = (stopped.json["workers"] as? [[String: Any]] ?? []).compactMap { $0["url"] as? String }
        #expect(probed == ["http://127.0.0.1:\(second.httpPort)"], "\(stopped.stdout)")

        // A copy killed without a word goes stale after three of its intervals.
        second.kill9()
        _ = second.waitForExit(timeout: .seconds(10))
        let stale = try waitUntil(
            "the killed copy to go stale", timeout: .seconds(20), { try status(fixture, ["--json"]) }
        ) {
            copy($0, pid: pids[1])?["state"] as? String == "stale"
        }
        #expect(copy(stale, pid: pids[1])?["state"] as? String == "stale", "\(stale.stdout)")

        // The text form lists the copies and their states.
        let text = try status(fixture)
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("0 running, 1 stale, 1 stopped"), "\(text.stdout)")
        #expect(text.stdout.contains("stopped") && text.stdout.contains("\(pids[0])"), "\(text.stdout)")
    }

    @Test("garbage and forged messages on the stream are reported invalid and do not hide the real copies")
    func garbageIsInvalid() throws {
        let fixture = try ProbeFixture()
        let worker = try fixture.startWorker(["PRESENCE_INTERVAL_MS": "300"])
        let stream = PresenceStream.name(exchange: fixture.exchange)
        try waitUntil("the copy to be announced", timeout: .seconds(30), { try status(fixture, ["--json"]) }) {
            copy($0, pid: worker.process.processIdentifier) != nil
        }

        let valid = PresenceAnnouncement(
            worker: "probe-worker", queue: fixture.queue, copyID: "forged01", version: "dev", host: "h", pid: 42,
            metricsURL: "http://127.0.0.1:1/metrics", healthURL: nil, startedAt: Date(), sentAt: Date(),
            interval: .seconds(1), state: .running)
        var badURL = valid
        badURL.metricsURL = "file:///etc/passwd"
        var badHost = valid
        badHost.host = "evil\u{1b}[31mhost\n"
        var badInterval = valid
        badInterval.intervalSeconds = -1
        // A `stopped` dated an hour ahead would outlast every real announcement after it.
        let future = PresenceAnnouncement(
            worker: "probe-worker", queue: fixture.queue, copyID: "forged02", version: "dev", host: "h", pid: 43,
            metricsURL: nil, healthURL: nil, startedAt: Date(), sentAt: Date().addingTimeInterval(3600),
            interval: .seconds(1), state: .stopped)
        let garbage: [(String?, [UInt8])] = [
            ("fleet.presence", Array("{not json".utf8)),
            ("fleet.presence", Array(#"{"worker":"x"}"#.utf8)),
            ("fleet.presence", badURL.encoded()),
            ("fleet.presence", badHost.encoded()),
            ("fleet.presence", badInterval.encoded()),
            ("fleet.presence", future.encoded()),
            (nil, valid.encoded()),
            ("fleet.presence", [0xFF, 0xFE, 0x00]),
        ]
        for (type, body) in garbage {
            try fixture.amqp.publish(
                channel: fixture.channel, exchange: "", routingKey: stream,
                properties: AMQPProperties(messageID: UUID().uuidString, type: type), body: body)
        }
        try fixture.confirmPublishes()

        let run = try status(fixture, ["--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let presence = try #require(run.json["presence"] as? [String: Any], "\(run.stdout)")
        #expect(presence["invalid_count"] as? Int == garbage.count, "\(presence)")
        let reasons = (presence["invalid"] as? [[String: Any]] ?? []).compactMap { $0["reason"] as? String }
        #expect(reasons.contains { $0.contains("not a presence announcement") }, "\(reasons)")
        #expect(reasons.contains { $0.contains("file:///etc/passwd") }, "\(reasons)")
        #expect(reasons.contains { $0.contains("control characters") }, "\(reasons)")
        #expect(reasons.contains { $0.contains("type is missing") }, "\(reasons)")
        // The real copy is still there, and nothing forged was probed.
        #expect(copy(run, pid: worker.process.processIdentifier)?["state"] as? String == "running", "\(run.stdout)")
        #expect(copies(run).allSatisfy { !["forged01", "forged02"].contains($0["copy_id"] as? String) })
        #expect(reasons.contains { $0.contains("ahead") }, "\(reasons)")
        let probed = (run.json["workers"] as? [[String: Any]] ?? []).compactMap { $0["url"] as? String }
        #expect(probed == ["http://127.0.0.1:\(worker.httpPort)"], "\(run.stdout)")

        let text = try status(fixture)
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("\(garbage.count) invalid message(s)"), "\(text.stdout)")
        #expect(!text.stdout.contains("\u{1b}"), "a control character reached the terminal")
    }

    @Test("an announcement as it sits on the stream: the documented keys only, no URL of a broker or store")
    func announcementCarriesNoSecret() throws {
        let fixture = try ProbeFixture()
        let worker = try fixture.startWorker(["PRESENCE_INTERVAL_MS": "300"])
        let stream = PresenceStream.name(exchange: fixture.exchange)
        let channel = try fixture.amqp.openChannel()
        defer { fixture.amqp.closeChannel(channel) }
        try fixture.amqp.setPrefetch(channel: channel, count: 10)
        try fixture.amqp.consume(channel: channel, queue: stream, arguments: ["x-stream-offset": "first"])
        var bodies: [String] = []
        let deadline = ContinuousClock.now + .seconds(20)
        while bodies.count < 2, ContinuousClock.now < deadline {
            guard case .delivery(let delivery)? = try fixture.amqp.nextEvent(timeout: .seconds(1)) else { continue }
            try fixture.amqp.ack(channel: channel, deliveryTag: delivery.deliveryTag)
            #expect(delivery.properties.type == "fleet.presence")
            #expect(delivery.properties.userID == "commerce")
            bodies.append(String(decoding: delivery.body, as: UTF8.self))
        }
        #expect(bodies.count == 2, "\(bodies)")
        let keys: Set = [
            "worker", "queue", "copy_id", "version", "host", "pid", "metrics_url", "health_url", "started_at",
            "sent_at", "interval_seconds", "state",
        ]
        for body in bodies {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
            #expect(Set(object.keys) == keys, "\(body)")
            #expect(object["pid"] as? Int == Int(worker.process.processIdentifier))
            for secret in ["amqp://", "postgresql://", "commerce:commerce", fixture.databaseURL] {
                #expect(!body.contains(secret), "\(body)")
            }
        }
    }

    @Test("without a presence stream, status says so and probes the --worker URLs it is given")
    func missingStream() throws {
        let fixture = try ProbeFixture()
        let worker = try fixture.startWorker(["PRESENCE_INTERVAL_MS": "0"])
        let run = try status(
            fixture,
            [
                "--json", "--presence-stream", "none-\(fixture.suffix)", "--worker",
                "http://127.0.0.1:\(worker.httpPort)",
            ])
        #expect(run.status == 0, "\(run.stderr)")
        let presence = try #require(run.json["presence"] as? [String: Any], "\(run.stdout)")
        #expect(presence["state"] as? String == "missing")
        #expect((presence["error"] as? String)?.contains("commerce setup") == true, "\(presence)")
        let probed = (run.json["workers"] as? [[String: Any]] ?? []).compactMap { $0["url"] as? String }
        #expect(probed == ["http://127.0.0.1:\(worker.httpPort)"], "\(run.stdout)")

        let refused = try status(fixture, ["--presence-window", "0"])
        #expect(refused.status == 64, "\(refused.stderr)")
    }
}
