import AsyncHTTPClient
import CommerceSupport
import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import Tracing

/// Sends ended spans to an OTLP/HTTP endpoint (`/v1/traces`, JSON encoding) from a thread of its
/// own, so that a slow or absent collector never holds the consume loop: ``enqueue(_:)`` takes a
/// lock and appends; a full queue drops the span and counts it
/// (`commerce_tracing_spans_dropped_total`); every export request has a deadline.
final class SpanExporter: @unchecked Sendable {
    // @unchecked: `pending`, `stopping`, `flushRequested` and `finished` are guarded by `condition`.

    private let settings: TracingSettings
    private let logger: Logger
    private let condition = NSCondition()
    private var pending: [FinishedSpan] = []
    private var stopping = false
    private var flushRequested = false
    private var finished = false
    private let dropped = Counter(label: "commerce_tracing_spans_dropped_total")
    private let exported = Counter(label: "commerce_tracing_spans_exported_total")
    private let failedExports = Counter(label: "commerce_tracing_export_failures_total")
    private let resource: [String: Any]
    /// A client of its own, without AsyncHTTPClient's automatic tracing: an export traced by the
    /// tracer it exports for would make a span per export, exported in turn, for ever.
    private let client: HTTPClient

    init(settings: TracingSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
        resource = [
            "attributes": [
                Self.attribute("service.name", .string(settings.serviceName)),
                Self.attribute("service.instance.id", .string("\(ProcessInfo.processInfo.hostName):\(getpid())")),
                Self.attribute("telemetry.sdk.name", .string("commerce")),
                Self.attribute("telemetry.sdk.language", .string("swift")),
            ]
        ]
        pending.reserveCapacity(settings.maximumBatchSize)
        var configuration = HTTPClient.Configuration()
        configuration.tracing.tracer = nil
        configuration.timeout = HTTPClient.Configuration.Timeout(
            connect: .nanoseconds(Int64(settings.exportTimeout.seconds * 1e9)),
            read: .nanoseconds(Int64(settings.exportTimeout.seconds * 1e9)))
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    func start() {
        let thread = Thread { [self] in loop() }
        thread.name = "otlp-exporter"
        thread.start()
    }

    /// Queues an ended span; drops it (and counts it) when the queue is full.
    func enqueue(_ span: FinishedSpan) {
        condition.lock()
        guard pending.count < settings.queueCapacity, !finished else {
            condition.unlock()
            dropped.increment()
            return
        }
        pending.append(span)
        if pending.count >= settings.maximumBatchSize { condition.signal() }
        condition.unlock()
    }

    /// Asks the thread to export what is queued now, without waiting for it.
    func flush() {
        condition.lock()
        flushRequested = true
        condition.signal()
        condition.unlock()
    }

    /// Exports what is queued and stops the thread; waits for it until `deadline` at most.
    func shutdown(deadline: Duration) {
        let until = Date().addingTimeInterval(deadline.seconds)
        condition.lock()
        stopping = true
        condition.broadcast()
        while !finished && condition.wait(until: until) {}
        condition.unlock()
    }

    private func loop() {
        condition.lock()
        while true {
            if pending.count < settings.maximumBatchSize && !stopping && !flushRequested {
                _ = condition.wait(until: Date().addingTimeInterval(settings.exportInterval.seconds))
            }
            let count = min(pending.count, settings.maximumBatchSize)
            let batch = Array(pending.prefix(count))
            pending.removeFirst(count)
            if pending.isEmpty { flushRequested = false }
            let last = stopping && pending.isEmpty
            condition.unlock()
            if !batch.isEmpty { export(batch) }
            condition.lock()
            if last {
                finished = true
                condition.broadcast()
                condition.unlock()
                try? client.syncShutdown()
                return
            }
        }
    }

    private func export(_ batch: [FinishedSpan]) {
        let body: Data
        do {
            body = try JSONSerialization.data(withJSONObject: document(batch))
        } catch {
            logger.warning("could not encode spans", metadata: ["error": "\(error)", "spans": "\(batch.count)"])
            dropped.increment(by: batch.count)
            return
        }
        let endpoint = settings.endpoint
        let timeout = settings.exportTimeout
        let headers = settings.headers
        let client = client
        do {
            let status = try runBlocking { () async throws -> UInt in
                var request = HTTPClientRequest(url: endpoint)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                for (name, value) in headers { request.headers.replaceOrAdd(name: name, value: value) }
                request.body = .bytes(ByteBuffer(bytes: body))
                let response = try await client.execute(
                    request, deadline: .now() + .nanoseconds(Int64(timeout.seconds * 1e9)))
                _ = try await response.body.collect(upTo: 1 << 20)
                return response.status.code
            }
            guard (200..<300).contains(status) else {
                throw TracingExportError(problem: "the collector answered HTTP \(status)")
            }
            exported.increment(by: batch.count)
        } catch {
            // Spans are telemetry: a failed export is logged and counted, never retried into a
            // growing backlog.
            failedExports.increment()
            dropped.increment(by: batch.count)
            logger.warning(
                "could not export spans", metadata: ["error": "\(error)", "spans": "\(batch.count)"])
        }
    }

    /// The OTLP/HTTP JSON document (`ExportTraceServiceRequest`) for `batch`.
    func document(_ batch: [FinishedSpan]) -> [String: Any] {
        [
            "resourceSpans": [
                [
                    "resource": resource,
                    "scopeSpans": [["scope": ["name": "commerce"], "spans": batch.map(Self.encode)]],
                ]
            ]
        ]
    }

    private static func encode(_ span: FinishedSpan) -> [String: Any] {
        var object: [String: Any] = [
            "traceId": span.trace.traceID,
            "spanId": span.trace.spanIDHex,
            "name": span.name,
            "kind": kind(span.kind),
            "startTimeUnixNano": "\(span.start)",
            "endTimeUnixNano": "\(max(span.end, span.start))",
        ]
        if let parent = span.parentSpanID { object["parentSpanId"] = TraceContext.hex(parent, digits: 16) }
        if let state = span.trace.traceState { object["traceState"] = state }
        var attributes: [[String: Any]] = []
        span.attributes.forEach { key, value in attributes.append(attribute(key, value)) }
        if !attributes.isEmpty { object["attributes"] = attributes }
        if !span.links.isEmpty {
            object["links"] = span.links.map { ["traceId": $0.traceID, "spanId": $0.spanIDHex] }
        }
        if let status = span.status {
            var encoded: [String: Any] = ["code": status.code == .error ? 2 : 1]
            if let message = status.message { encoded["message"] = message }
            object["status"] = encoded
        }
        return object
    }

    /// OTLP's `SpanKind` numbers.
    private static func kind(_ kind: SpanKind) -> Int {
        switch kind {
        case .internal: 1
        case .server: 2
        case .client: 3
        case .producer: 4
        case .consumer: 5
        }
    }

    private static func attribute(_ key: String, _ value: SpanAttribute) -> [String: Any] {
        let encoded: [String: Any]
        switch value {
        case .int32(let number): encoded = ["intValue": "\(number)"]
        case .int64(let number): encoded = ["intValue": "\(number)"]
        case .double(let number): encoded = ["doubleValue": number]
        case .bool(let flag): encoded = ["boolValue": flag]
        case .string(let text): encoded = ["stringValue": text]
        default: encoded = ["stringValue": "\(value)"]
        }
        return ["key": key, "value": encoded]
    }
}

/// An export the collector did not accept.
struct TracingExportError: Error, CustomStringConvertible {
    var problem: String
    var description: String { problem }
}
