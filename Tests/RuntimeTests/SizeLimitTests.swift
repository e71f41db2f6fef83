import AMQP
import CommerceTestKit
import Foundation
import Testing
import WorkerRuntime

/// Size limits before memory (docs/security.md, "Size limits"): the broker refuses a message over
/// its `max_message_size`, and a worker refuses a body over `consumer.maxBodyBytes` while reading
/// it, before it is copied, so a producer of large bodies cannot take the worker's memory.
@Suite("Size limits against real servers")
struct SizeLimitTests {
    @Test("the broker refuses a 100 MiB publish: over max_message_size (scripts/services.sh sets 1 MiB)")
    func brokerRefusesOversizedPublish() throws {
        let connection = try TestServers.amqp("size-limit-test")
        defer { connection.close() }
        let channel = try connection.openChannel()
        try connection.enableConfirms(channel: channel)
        let queue = "size-limit-\(UUID().uuidString.prefix(8).lowercased())"
        try connection.declareQueue(channel: channel, name: queue, durable: false, autoDelete: true)
        let body = [UInt8](repeating: 0x78, count: 100 << 20)
        var refusal: AMQPError?
        do {
            try connection.publish(
                channel: channel, exchange: "", routingKey: queue, properties: AMQPProperties(messageID: "big"),
                body: body)
            _ = try connection.waitForConfirms(channel: channel, timeout: .seconds(10))
        } catch {
            refusal = error
        }
        #expect(refusal?.replyCode == 406, "a 100 MiB publish was not refused: \(String(describing: refusal))")
        #expect(refusal?.message.contains("max size") == true, "\(String(describing: refusal))")
    }

    @Test(
        "a worker refuses bodies over consumer.maxBodyBytes unread: its memory stays flat, the broker dead-letters them whole"
    )
    func workerRefusesOversizedBodiesUnread() throws {
        let fixture = try ProbeFixture()
        // Prefetch 128: a worker that copied each body first would hold up to 128 MB of them.
        let worker = try fixture.startWorker(["CONSUMER_PREFETCH": "128", "CONSUMER_MAX_BODY_BYTES": "65536"])
        let pid = worker.process.processIdentifier
        let before = try Self.peakResidentKiB(pid)
        let count = 200
        let pad = String(repeating: "x", count: 1_000_000)
        let big = (0..<count).map { _ in ProbeFixture.Message.work(#"{"action":"ok","pad":""# + pad + #""}"#) }
        let good = ProbeFixture.Message.work(#"{"action":"ok"}"#)
        try fixture.publish(big + [good])
        let dlq = fixture.queue + ".dlq"
        try waitUntil("\(count) dead letters", timeout: .seconds(120), { try fixture.depth(dlq) }) { $0 >= count }
        try fixture.waitForEffects(1)
        #expect(try fixture.effects() == [good.messageID!: 1])
        let after = try Self.peakResidentKiB(pid)
        #expect(
            after - before < 48 * 1024,
            "the worker's peak RSS grew by \(after - before) KiB while \(count) bodies of 1 MB went past it")
        #expect(worker.process.isRunning)

        // Kept whole by the broker's dead-lettering, with the reason in x-death.
        guard let letter = try fixture.amqp.get(channel: fixture.channel, queue: dlq, autoAck: true) else {
            Issue.record("the dead-letter queue is empty")
            return
        }
        #expect(letter.body.count == big[0].body.count)
        #expect(big.contains { $0.messageID == letter.properties.messageID })
        guard case .array(let deaths)? = letter.properties.headers["x-death"], case .table(let death)? = deaths.first
        else {
            Issue.record("no x-death header on \(letter.properties.headers)")
            return
        }
        #expect(death["reason"]?.stringValue == "rejected")
        #expect(death["queue"]?.stringValue == fixture.queue)
        let metrics = worker.http("/metrics")?.1 ?? ""
        let line = metrics.split(separator: "\n").first {
            $0.hasPrefix("commerce_messages_dead_lettered_total") && $0.contains(#"reason="body_too_large""#)
        }
        #expect(line?.hasSuffix(" \(count)") == true, "metrics: \(line.map(String.init) ?? "no body_too_large line")")
        #expect(worker.log.contains("refused a delivery unread"))
    }

    /// The process's peak resident set (VmHWM), in KiB.
    static func peakResidentKiB(_ pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kib = Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" })[1])
        else { throw CocoaError(.fileReadCorruptFile) }
        return kib
    }
}
