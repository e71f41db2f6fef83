import CommerceTestKit
import Foundation
import Testing

/// Secrets read from files (`<VARIABLE>_FILE`, docs/security.md, "Secrets"), checked on a real
/// worker process: it connects with URLs it read from files, and a bad file is a configuration
/// error at start (exit 78) whose message names the variable and the path, never a secret.
@Suite("Secrets from files, on a worker process")
struct SecretFileTests {
    static func secretFile(_ content: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("secret-\(UUID().uuidString)")
        try Data((content + "\n").utf8).write(to: url)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: url.path)
        return url
    }

    @Test("a worker given AMQP_URL_FILE and DATABASE_URL_FILE connects and works")
    func urlsFromFiles() throws {
        let fixture = try ProbeFixture()
        let amqp = try Self.secretFile(TestServers.amqpURL)
        let database = try Self.secretFile(fixture.databaseURL)
        defer { for file in [amqp, database] { try? FileManager.default.removeItem(at: file) } }
        let worker = try fixture.startWorker([
            "AMQP_URL": "", "DATABASE_URL": "", "AMQP_URL_FILE": amqp.path, "DATABASE_URL_FILE": database.path,
        ])
        let message = ProbeFixture.Message.work(#"{"action":"ok"}"#)
        try fixture.publish([message])
        try fixture.waitForEffects(1)
        #expect(worker.process.isRunning)
    }

    @Test("a missing secret file, or a variable set both ways, stops the worker at start with exit 78")
    func badSecretFiles() throws {
        let fixture = try ProbeFixture()
        let missing = "/nonexistent/amqp-url-\(UUID().uuidString)"
        let cases: [([String: String], String)] = [
            (
                ["AMQP_URL": "", "AMQP_URL_FILE": missing],
                "AMQP_URL_FILE' names a file that cannot be read: \(missing)"
            ),
            (["DATABASE_URL_FILE": missing], "DATABASE_URL_FILE' is set together with DATABASE_URL"),
        ]
        for (environment, message) in cases {
            let worker = try fixture.startWorker(environment, waitForReady: false)
            #expect(worker.waitForExit(timeout: .seconds(30)) == 78, "\(environment)")
            #expect(worker.log.contains(message), "log: \(worker.log.suffix(400))")
            #expect(!worker.log.contains("commerce:commerce"), "a URL with its password reached the log")
        }
    }
}
