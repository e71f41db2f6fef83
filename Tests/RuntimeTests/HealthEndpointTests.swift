import CommerceTestKit
import Foundation
import Glibc
import Testing

/// The worker's `/health/live`, `/health/ready` and `/metrics` endpoint, on a real probe-worker
/// process (docs/architecture.md, "Metrics and health"): slow clients hold only themselves, a
/// batch past its deadline makes the worker not ready, a stuck loop makes it not live, and it
/// binds IPv6 as well as IPv4.
@Suite("Health endpoint on a worker process")
struct HealthEndpointTests {
    /// A raw TCP client, so that a test can send a request as slowly as it likes.
    final class RawClient {
        let descriptor: Int32

        init(host: String, port: Int) throws {
            var hints = addrinfo()
            hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var found: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, "\(port)", &hints, &found) == 0, let info = found else {
                throw CocoaError(.fileNoSuchFile)
            }
            defer { freeaddrinfo(found) }
            descriptor = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            guard descriptor >= 0, connect(descriptor, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
                throw CocoaError(.fileReadNoPermission)
            }
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        deinit { close(descriptor) }

        func send(_ text: String) {
            _ = Array(text.utf8).withUnsafeBytes {
                Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
        }

        /// Everything until the server closes (or 10 s pass).
        func readAll() -> String {
            var data = [UInt8]()
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = read(descriptor, &buffer, buffer.count)
                if count <= 0 { break }
                data += buffer[0..<count]
            }
            return String(decoding: data, as: UTF8.self)
        }

        static func get(host: String = "127.0.0.1", port: Int, path: String) throws -> String {
            let client = try RawClient(host: host, port: port)
            client.send("GET \(path) HTTP/1.1\r\nHost: test\r\n\r\n")
            return client.readAll()
        }
    }

    @Test("slow clients hold only themselves: /health/ready answers beside them, and a trickle is cut at 2 s")
    func slowClients() throws {
        let fixture = try ProbeFixture()
        let worker = try fixture.startWorker()
        // Each sends a byte now and then and never finishes its request.
        let slow = try (0..<3).map { _ in try RawClient(host: "127.0.0.1", port: worker.httpPort) }
        for client in slow { client.send("G") }
        let started = ContinuousClock.now
        let answer = try RawClient.get(port: worker.httpPort, path: "/health/ready")
        #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
        #expect(answer.contains(#""status":"ready""#))
        #expect(ContinuousClock.now - started < .seconds(1), "waited behind the slow clients")
        for client in slow { client.send("E") }
        // The trickling clients are closed by the request deadline, with no answer.
        let cut = ContinuousClock.now
        #expect(slow[0].readAll() == "")
        #expect(ContinuousClock.now - cut < .seconds(3), "a trickling client was held past the deadline")
        let live = try RawClient.get(port: worker.httpPort, path: "/health/live")
        #expect(live.hasPrefix("HTTP/1.1 200"), "\(live)")
        #expect(live.contains(#""status":"live""#))
        #expect(try RawClient.get(port: worker.httpPort, path: "/health").hasPrefix("HTTP/1.1 200"))
        #expect(try RawClient.get(port: worker.httpPort, path: "/metrics").contains("commerce_batch_size"))
    }

    @Test(
        "a batch past health.batchDeadlineMs makes the worker not ready, a loop stuck past health.liveDeadlineMs not live"
    )
    func deadlines() throws {
        let fixture = try ProbeFixture()
        let worker = try fixture.startWorker(["HEALTH_BATCH_DEADLINE_MS": "1000", "HEALTH_LIVE_DEADLINE_MS": "2500"])
        try fixture.publish([ProbeFixture.Message.work(#"{"action":"sleep","sleep_ms":6000}"#)])
        let notReady = try waitUntil(
            "/health/ready to say the batch overran", timeout: .seconds(10),
            { try RawClient.get(port: worker.httpPort, path: "/health/ready") }
        ) { $0.hasPrefix("HTTP/1.1 503") }
        #expect(notReady.contains("batch running for"), "\(notReady)")
        let stuck = try waitUntil(
            "/health/live to say the loop is stuck", timeout: .seconds(10),
            { try RawClient.get(port: worker.httpPort, path: "/health/live") }
        ) { $0.hasPrefix("HTTP/1.1 503") }
        #expect(stuck.contains("handling for"), "\(stuck)")
        try fixture.waitForEffects(1, timeout: .seconds(30))
        try waitUntil("ready again", { try RawClient.get(port: worker.httpPort, path: "/health/ready") }) {
            $0.hasPrefix("HTTP/1.1 200")
        }
        #expect(try RawClient.get(port: worker.httpPort, path: "/health/live").hasPrefix("HTTP/1.1 200"))
    }

    @Test("http.host takes IPv6: a worker on ::1 answers there")
    func ipv6() throws {
        let fixture = try ProbeFixture()
        let worker = try fixture.startWorker(["HTTP_HOST": "::1"], waitForReady: false)
        let answer = try waitUntil(
            "the worker to answer on [::1]", timeout: .seconds(30),
            { (try? RawClient.get(host: "::1", port: worker.httpPort, path: "/health/ready")) ?? "" }
        ) { $0.hasPrefix("HTTP/1.1 200") }
        #expect(answer.contains(#""status":"ready""#))
        #expect(worker.log.contains("[::1]:\(worker.httpPort)"))
    }
}
