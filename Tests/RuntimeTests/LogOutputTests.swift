import CommerceTestKit
import Foundation
import Logging
import Synchronization
import Testing
import WorkerApp

/// `LOG_FORMAT=json`: one JSON object per line, every metadata field a key of its own, hostile
/// text kept on its line; and a worker run with it, whose every line parses.
@Suite("Logs as JSON lines")
struct LogOutputTests {
    private final class Lines: Sendable {
        let lines = Mutex<[String]>([])
    }

    private func entry(_ log: (Logger) -> Void, metadata: Logger.Metadata = [:]) throws -> [String: Any] {
        let captured = Lines()
        var handler = JSONLogHandler(label: "order-worker") { line in captured.lines.withLock { $0.append(line) } }
        handler.metadata = metadata
        log(Logger(label: "order-worker", factory: { _ in handler }))
        let lines = captured.lines.withLock { $0 }
        #expect(lines.count == 1)
        let line = try #require(lines.first)
        #expect(line.hasSuffix("}\n") && line.dropLast().firstIndex(of: "\n") == nil, "one line: \(line)")
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test("the fixed keys, the metadata as keys of their own, nested values as JSON")
    func keys() throws {
        let object = try entry(
            { logger in
                logger.warning(
                    "broker connection lost; reconnecting",
                    metadata: [
                        "attempt": "3", "error": .stringConvertible(42),
                        "order": ["id": "o-1", "skus": ["KB-001", "MS-002"]],
                    ])
            }, metadata: ["queue": "order-worker"])
        #expect(object["level"] as? String == "warning")
        #expect(object["logger"] as? String == "order-worker")
        #expect(object["message"] as? String == "broker connection lost; reconnecting")
        #expect(object["queue"] as? String == "order-worker")
        #expect(object["attempt"] as? String == "3")
        #expect(object["error"] as? String == "42")
        let order = object["order"] as? [String: Any]
        #expect(order?["id"] as? String == "o-1")
        #expect(order?["skus"] as? [String] == ["KB-001", "MS-002"])
        #expect(object["source"] as? String == "RuntimeTests")
        let time = try #require(object["time"] as? String)
        #expect(try Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(time).timeIntervalSinceNow > -60)
    }

    @Test("newlines, quotes, control characters and line separators in a message stay escaped on one line")
    func hostileText() throws {
        let text = "line one\nline two \"quoted\" \\ back\u{0}\u{1b}[31m red \u{2028} sep \u{85} é 🧾"
        let object = try entry({ $0.error("\(text)", metadata: ["body": "\(text)"]) })
        #expect(object["message"] as? String == text)
        #expect(object["body"] as? String == text)
    }

    @Test("a metadata key named like a fixed key does not replace it")
    func reservedKeys() throws {
        let object = try entry({ $0.info("the message", metadata: ["message": "shadow", "level": "shadow"]) })
        #expect(object["message"] as? String == "the message")
        #expect(object["level"] as? String == "info")
        #expect(object["metadata.message"] as? String == "shadow")
        #expect(object["metadata.level"] as? String == "shadow")
    }

    @Test("the worker's identity on every line, a metadata key named like one of its keys kept apart")
    func identity() throws {
        let captured = Lines()
        let handler = JSONLogHandler(
            label: "order-worker",
            identity: LogOutput.Identity(worker: "order-worker", host: "vm-1", pid: 4242, copyID: "0a1b2c3d")
        ) { line in captured.lines.withLock { $0.append(line) } }
        let logger = Logger(label: "order-worker", factory: { _ in handler })
        logger.info("one")
        logger.info("two", metadata: ["worker": "shadow", "host": "shadow"])
        let objects = try captured.lines.withLock { $0 }.map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        #expect(objects.count == 2)
        for object in objects {
            #expect(object["worker"] as? String == "order-worker")
            #expect(object["host"] as? String == "vm-1")
            #expect(object["pid"] as? Int == 4242)
            #expect(object["copy_id"] as? String == "0a1b2c3d")
        }
        #expect(objects[1]["metadata.worker"] as? String == "shadow")
        #expect(objects[1]["metadata.host"] as? String == "shadow")
    }

    @Test("LOG_FORMAT and LOG_LEVEL: the defaults, and what is refused")
    func settings() throws {
        #expect(try LogOutput.settings([:]) == (.text, .info))
        #expect(try LogOutput.settings(["LOG_FORMAT": "JSON", "LOG_LEVEL": "debug"]) == (.json, .debug))
        #expect(throws: LogOutput.InvalidSetting.self) { try LogOutput.settings(["LOG_FORMAT": "xml"]) }
        #expect(throws: LogOutput.InvalidSetting.self) { try LogOutput.settings(["LOG_LEVEL": "loud"]) }
    }

    @Test("a probe-worker with LOG_FORMAT=json writes only JSON lines; LOG_FORMAT=xml exits 78 with a reason")
    func worker() throws {
        let fixture = try ProbeFixture()
        // libmongoc warns, before any code of ours runs, when it cannot use shared memory for its
        // counters (this sandbox); MONGOC_DISABLE_SHM tells it not to try (docs/operations.md, "Logs").
        let worker = try fixture.startWorker(["LOG_FORMAT": "json", "MONGOC_DISABLE_SHM": "1"])
        try fixture.publish([.work(#"{"action":"ok"}"#)])
        try fixture.waitForEffects(1)
        // The copy id its /metrics reports (`commerce_worker_info{copy=…}`), to match every line's.
        let metrics = worker.http("/metrics")?.1 ?? ""
        let info = metrics.split(separator: "\n").first { $0.hasPrefix("commerce_worker_info{") } ?? ""
        let copyID = info.range(of: #"copy=""#).map { String(info[$0.upperBound...].prefix { $0 != "\"" }) }
        #expect(copyID?.count == 8, "\(info)")
        worker.terminate()
        #expect(worker.waitForExit(timeout: .seconds(30)) == 0)
        let lines = worker.log.split(separator: "\n")
        #expect(lines.count >= 3, "\(worker.log)")
        var connected: [String: Any]?
        for line in lines {
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object != nil, "not JSON: \(line)")
            #expect(object?["level"] is String && object?["message"] is String && object?["time"] is String)
            // Who wrote it, on every line.
            #expect(object?["worker"] as? String == "probe-worker", "\(line)")
            #expect(object?["host"] as? String == ProcessInfo.processInfo.hostName, "\(line)")
            #expect(object?["pid"] as? Int == Int(worker.process.processIdentifier), "\(line)")
            #expect(object?["copy_id"] as? String == copyID, "\(line)")
            if object?["message"] as? String == "connected to broker" { connected = object }
        }
        #expect(connected?["endpoint"] as? String == "127.0.0.1:5672", "\(worker.log)")

        let refused = try fixture.startWorker(["LOG_FORMAT": "xml"], waitForReady: false)
        #expect(refused.waitForExit(timeout: .seconds(30)) == 78)
        #expect(refused.log.contains("LOG_FORMAT must be one of text, json, not 'xml'"), "\(refused.log)")
    }
}
