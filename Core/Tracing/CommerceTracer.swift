import Foundation
import Synchronization
import Tracing

/// The fleet's tracer: swift-distributed-tracing's `Tracer` over ``TraceContext`` (W3C ids),
/// handing every ended span to a ``SpanExporter``. Starting and ending a span costs a few small
/// allocations and one lock; nothing waits for the network.
public final class CommerceTracer: Tracer, Sendable {
    public typealias Span = CommerceSpan

    /// The `service.name` every span of this process is exported under.
    public let serviceName: String
    let exporter: SpanExporter

    init(serviceName: String, exporter: SpanExporter) {
        self.serviceName = serviceName
        self.exporter = exporter
    }

    /// A span under the context's ``TraceContext`` (a child of that span, in its trace), or the
    /// root of a new trace when the context holds none.
    public func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> ServiceContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> CommerceSpan {
        let parentContext = context()
        let parent = parentContext.traceContext
        var spanContext = parentContext
        let trace = parent?.child() ?? TraceContext.newTrace()
        spanContext.traceContext = trace
        return CommerceSpan(
            operationName: operationName, context: spanContext, trace: trace, parentSpanID: parent?.spanID, kind: kind,
            start: instant().nanosecondsSinceEpoch, exporter: exporter)
    }

    /// A span continuing `parent` (a child of it), or a new trace when `parent` is `nil`.
    public func startSpan(_ operationName: String, parent: TraceContext?, kind: SpanKind) -> CommerceSpan {
        startSpan(
            operationName, context: parent.map(ServiceContext.holding) ?? .topLevel, ofKind: kind,
            at: DefaultTracerClock.now, function: #function, file: #fileID, line: #line)
    }

    public func forceFlush() { exporter.flush() }

    public func extract<Carrier, Extract: Extractor>(
        _ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract
    ) where Extract.Carrier == Carrier {
        guard let parent = extractor.extract(key: TraceContext.traceparentHeader, from: carrier) else { return }
        // A malformed header is ignored: the span started from this context begins a new trace.
        context.traceContext = TraceContext(
            traceparent: parent, traceState: extractor.extract(key: TraceContext.tracestateHeader, from: carrier))
    }

    public func inject<Carrier, Inject: Injector>(
        _ context: ServiceContext, into carrier: inout Carrier, using injector: Inject
    ) where Inject.Carrier == Carrier {
        guard let trace = context.traceContext else { return }
        injector.inject(trace.traceparent, forKey: TraceContext.traceparentHeader, into: &carrier)
        if let state = trace.traceState {
            injector.inject(state, forKey: TraceContext.tracestateHeader, into: &carrier)
        }
    }
}

/// A span of the ``CommerceTracer``; sent to the exporter once, when it ends.
public final class CommerceSpan: Tracing.Span, Sendable {
    public let context: ServiceContext
    /// This span's W3C context (what goes on an outgoing message or request).
    public let trace: TraceContext
    let parentSpanID: UInt64?
    let kind: SpanKind
    let start: UInt64
    private let exporter: SpanExporter
    private let state: Mutex<State>

    struct State {
        var name: String
        var attributes = SpanAttributes()
        var links: [TraceContext] = []
        var status: SpanStatus?
        var ended = false
    }

    init(
        operationName: String, context: ServiceContext, trace: TraceContext, parentSpanID: UInt64?, kind: SpanKind,
        start: UInt64, exporter: SpanExporter
    ) {
        self.context = context
        self.trace = trace
        self.parentSpanID = parentSpanID
        self.kind = kind
        self.start = start
        self.exporter = exporter
        state = Mutex(State(name: operationName))
    }

    public var operationName: String {
        get { state.withLock { $0.name } }
        set { state.withLock { if !$0.ended { $0.name = newValue } } }
    }

    public var attributes: SpanAttributes {
        get { state.withLock { $0.attributes } }
        set { state.withLock { if !$0.ended { $0.attributes = newValue } } }
    }

    public var isRecording: Bool { state.withLock { !$0.ended } }

    public func setStatus(_ status: SpanStatus) { state.withLock { if !$0.ended { $0.status = status } } }

    /// Events are not exported.
    public func addEvent(_ event: SpanEvent) {}

    public func recordError<Instant: TracerInstant>(
        _ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant
    ) {
        let text = "\(error)"
        state.withLock {
            guard !$0.ended else { return }
            $0.attributes["exception.message"] = text
            $0.status = SpanStatus(code: .error, message: text)
        }
    }

    public func addLink(_ link: SpanLink) {
        guard let target = link.context.traceContext else { return }
        addLink(to: target)
    }

    /// Links this span to another context (a message of the batch this span processes).
    public func addLink(to target: TraceContext) { state.withLock { if !$0.ended { $0.links.append(target) } } }

    public func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        let finished: State? = state.withLock {
            guard !$0.ended else { return nil }
            $0.ended = true
            return $0
        }
        guard let finished else { return }
        exporter.enqueue(
            FinishedSpan(
                name: finished.name, trace: trace, parentSpanID: parentSpanID, kind: kind, start: start,
                end: instant().nanosecondsSinceEpoch, attributes: finished.attributes, links: finished.links,
                status: finished.status))
    }
}

/// What the exporter sends of an ended span.
struct FinishedSpan: Sendable {
    var name: String
    var trace: TraceContext
    var parentSpanID: UInt64?
    var kind: SpanKind
    var start: UInt64
    var end: UInt64
    var attributes: SpanAttributes
    var links: [TraceContext]
    var status: SpanStatus?
}
