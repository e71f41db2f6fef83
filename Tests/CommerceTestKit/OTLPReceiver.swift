import Foundation
import LocalProcess
import Testing

/// A small OTLP/HTTP receiver for the tracing tests: a Python standard-library HTTP server on
/// 127.0.0.1 that accepts `POST /v1/traces` in the JSON encoding, answers 200, and appends every
/// span it receives, flattened with its resource's `service.name`, to a file the test reads.
/// No collector and no protobuf: the fleet's exporter sends JSON. Killed when released.
public final class OTLPReceiver {
    /// A span as received.
    public struct ReceivedSpan: Sendable, Hashable {
        public var service: String
        public var traceID: String
        public var spanID: String
        public var parentSpanID: String?
        public var name: String
        public var kind: Int
        public var links: [String]
        public var attributes: [String: String]
    }

    private let process: ChildProcess
    private let spansFile: URL
    private let directory: URL
    /// The port it listens on.
    public let port: Int

    /// The base URL to give as `OTEL_EXPORTER_OTLP_ENDPOINT` / `tracing.otlpEndpoint`.
    public var endpoint: String { "http://127.0.0.1:\(port)" }

    /// Starts the receiver on `port` (0: any free port) and waits until it listens. A `silent`
    /// one accepts connections (the kernel's backlog does) and never reads or answers: a
    /// collector that hangs. With `requiredAuthorization`, an export without exactly that
    /// `Authorization` header is answered 401 and its spans are not kept.
    public init(port requested: Int = 0, silent: Bool = false, requiredAuthorization: String? = nil) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "otlp-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let script = directory.appendingPathComponent("receiver.py")
        let spansPath = directory.appendingPathComponent("spans.jsonl").path
        spansFile = URL(fileURLWithPath: spansPath)
        let portFile = directory.appendingPathComponent("port")
        try Data(Self.script.utf8).write(to: script)
        let child = try ChildProcess(
            executable: URL(fileURLWithPath: "/usr/bin/python3"),
            arguments: [
                script.path, "\(requested)", spansPath, portFile.path, silent ? "silent" : "answer",
                requiredAuthorization ?? "",
            ],
            environment: ["PATH": "/usr/bin:/bin"], workingDirectory: directory,
            logURL: directory.appendingPathComponent("receiver.log"))
        let portText = try waitUntil("the OTLP receiver to listen", timeout: .seconds(10)) {
            (try? String(contentsOf: portFile, encoding: .utf8)) ?? ""
        } until: {
            $0.hasSuffix("\n") || !child.isRunning
        }
        guard let port = Int(portText.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw ReceiverError(description: "the OTLP receiver did not start: \(child.logTail())")
        }
        process = child
        self.port = port
    }

    deinit {
        process.kill()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Every span received so far.
    public var spans: [ReceivedSpan] {
        guard let text = try? String(contentsOf: spansFile, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                return nil
            }
            return ReceivedSpan(
                service: object["service"] as? String ?? "", traceID: object["traceId"] as? String ?? "",
                spanID: object["spanId"] as? String ?? "", parentSpanID: object["parentSpanId"] as? String,
                name: object["name"] as? String ?? "", kind: object["kind"] as? Int ?? 0,
                links: object["links"] as? [String] ?? [],
                attributes: object["attributes"] as? [String: String] ?? [:])
        }
    }

    /// Export requests received (any path), with their status, as the receiver logged them.
    public var requestCount: Int {
        process.log.split(separator: "\n").filter { $0.hasPrefix("request ") }.count
    }

    /// Export requests refused for a missing or wrong `Authorization` header.
    public var unauthorizedCount: Int {
        process.log.split(separator: "\n").filter { $0.hasPrefix("unauthorized ") }.count
    }

    public struct ReceiverError: Error, CustomStringConvertible {
        public var description: String
    }

    private static let script = #"""
        import json, socket, sys, threading, time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        port, spans_path, port_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
        required = sys.argv[5] if len(sys.argv) > 5 else ""
        if sys.argv[4] == "silent":
            listener = socket.socket()
            listener.bind(("127.0.0.1", port))
            listener.listen(1024)
            with open(port_path, "w") as f:
                f.write("%d\n" % listener.getsockname()[1])
            while True:
                time.sleep(3600)
        lock = threading.Lock()

        def value(v):
            for key in ("stringValue", "intValue", "boolValue", "doubleValue"):
                if key in v:
                    return str(v[key])
            return json.dumps(v)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                print("request", self.path, self.headers.get("Content-Type"), flush=True)
                if required and self.headers.get("Authorization") != required:
                    print("unauthorized", self.path, flush=True)
                    self.send_response(401); self.end_headers(); return
                if self.path != "/v1/traces":
                    self.send_response(404); self.end_headers(); return
                try:
                    document = json.loads(body)
                except ValueError:
                    self.send_response(400); self.end_headers(); return
                lines = []
                for resource_spans in document.get("resourceSpans", []):
                    attributes = {a["key"]: value(a["value"]) for a in resource_spans.get("resource", {}).get("attributes", [])}
                    for scope in resource_spans.get("scopeSpans", []):
                        for span in scope.get("spans", []):
                            lines.append(json.dumps({
                                "service": attributes.get("service.name", ""),
                                "traceId": span.get("traceId"), "spanId": span.get("spanId"),
                                "parentSpanId": span.get("parentSpanId") or None, "name": span.get("name"),
                                "kind": span.get("kind"),
                                "links": [l.get("spanId") for l in span.get("links", [])],
                                "attributes": {a["key"]: value(a["value"]) for a in span.get("attributes", [])},
                            }))
                with lock, open(spans_path, "a") as spans:
                    for line in lines:
                        spans.write(line + "\n")
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        with open(port_path, "w") as f:
            f.write("%d\n" % server.server_address[1])
        server.serve_forever()
        """#
}
