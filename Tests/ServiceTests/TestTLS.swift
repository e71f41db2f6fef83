import CommerceTestKit
import Foundation
import LocalProcess
import Mongo
import Testing

/// Where the TLS tests find what `scripts/services.sh up` makes (docs/security.md, "TLS"): the
/// local certificate authority and the broker's TLS listener. Environment variables with the
/// local defaults, as ``TestServers``.
enum TestTLS {
    static let environment = ProcessInfo.processInfo.environment

    /// The local certificate authority that signed the servers' certificate.
    static var caFile: String { environment["COMMERCE_TEST_TLS_CA_FILE"] ?? "/etc/commerce/tls/ca.pem" }

    /// The test broker over TLS: the same broker and user as ``TestServers/amqpURL``, on its
    /// TLS listener.
    static var amqpsURL: String {
        environment["COMMERCE_TEST_AMQPS_URL"] ?? "amqps://commerce:commerce@127.0.0.1:5671/%2F"
    }

    /// What a PostgreSQL URL of the tests needs to connect over TLS, checking the server's
    /// certificate and name (appended to a URL that already has a query).
    static var postgresOptions: String { "&sslmode=verify-full&sslrootcert=\(caFile)" }

    /// The `openssl` command, which `scripts/services.sh` installs.
    static let openssl = "/usr/bin/openssl"

    /// A certificate authority of the test's own and a server certificate it signed for
    /// `wrong.example`, in a new temporary directory: `ca.pem`, `server.pem`, `server.key`.
    static func foreignCertificates() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            TestServers.uniqueName("tls-test"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        func file(_ name: String) -> String { directory.appendingPathComponent(name).path }
        try Data("subjectAltName=DNS:wrong.example\n".utf8).write(to: URL(fileURLWithPath: file("server.ext")))
        let steps: [[String]] = [
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test CA", "-keyout",
                file("ca.key"), "-out", file("ca.pem"), "-addext", "basicConstraints=critical,CA:TRUE",
            ],
            [
                "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=wrong.example", "-keyout", file("server.key"),
                "-out", file("server.csr"),
            ],
            [
                "x509", "-req", "-in", file("server.csr"), "-CA", file("ca.pem"), "-CAkey", file("ca.key"),
                "-CAcreateserial", "-days", "2", "-extfile", file("server.ext"), "-out", file("server.pem"),
            ],
        ]
        for step in steps {
            let status = try spawnAndWait([openssl] + step, standardOutput: file("openssl.log"))
            guard status == 0 else {
                Issue.record(
                    "openssl \(step[0]) failed with status \(status): \((try? String(contentsOfFile: file("openssl.log"), encoding: .utf8)) ?? "")"
                )
                throw CocoaError(.fileWriteUnknown)
            }
        }
        return directory
    }

    /// The checkout's Python with SecantusDB, which `scripts/services.sh up` installs
    /// (`COMMERCE_TEST_PYTHON` for another).
    static var python: String {
        environment["COMMERCE_TEST_PYTHON"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".venv/bin/python").path
    }

    /// The key of the servers' certificate (readable by root only, as the tests run).
    static var serverKeyFile: String {
        URL(fileURLWithPath: caFile).deletingLastPathComponent().appendingPathComponent("server.key").path
    }
}

/// A SecantusDB of the test's own that speaks only TLS, with the local setup's server
/// certificate, in memory on a free port. The shared one on 27017 stays in clear: SecantusDB with
/// a certificate refuses clients that do not speak TLS, and the other tests are such clients.
final class MongoTLSServer {
    let port: Int
    let process: ChildProcess

    init() throws {
        let certificate = URL(fileURLWithPath: TestTLS.caFile).deletingLastPathComponent()
            .appendingPathComponent("server.pem").path
        port = WorkerProcess.freePort()
        process = try ChildProcess(
            executable: URL(fileURLWithPath: TestTLS.python),
            arguments: [
                "-m", "secantus", "--host", "127.0.0.1", "--port", "\(port)", "--storage-path", ":memory:",
                "--tls-cert-file", certificate, "--tls-key-file", TestTLS.serverKeyFile,
            ],
            environment: ProcessInfo.processInfo.environment, workingDirectory: FileManager.default.temporaryDirectory,
            logURL: FileManager.default.temporaryDirectory.appendingPathComponent(
                TestServers.uniqueName("secantus-tls") + ".log"))
        let uri = uri()
        try waitUntil(
            "SecantusDB over TLS on \(port) to answer", timeout: .seconds(30),
            {
                () -> String in
                do {
                    try MongoClient(uri: uri).ping()
                    return "answered"
                } catch {
                    return "\(error); log: \(process.logTail(lines: 3))"
                }
            }
        ) { $0 == "answered" }
    }

    deinit { process.kill() }

    /// A URI that reaches it over TLS as `host`, trusting the local authority.
    func uri(host: String = "localhost") -> String {
        "mongodb://\(host):\(port)/?retryWrites=false&tls=true&tlsCAFile=\(TestTLS.caFile)&serverSelectionTimeoutMS=3000"
    }
}
