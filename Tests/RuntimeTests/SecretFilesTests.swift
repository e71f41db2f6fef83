import Configuration
import Foundation
import Testing
import WorkerApp
import WorkerRuntime

@Suite("Secrets from files")
struct SecretFilesTests {
    @Test("each secret key's variable is the one the environment provider reads", arguments: SecretFiles.secretKeys)
    func variableNames(key: String) {
        let variable = SecretFiles.variable(for: key)
        let reader = ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: [variable: "value"]))
        #expect(reader.string(forKey: ConfigKey(key), isSecret: true) == "value", "\(key) -> \(variable)")
    }

    @Test("<VARIABLE>_FILE becomes <VARIABLE> with the file's content, one trailing newline removed")
    func resolvesFiles() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("secret-\(UUID().uuidString)")
        try Data("amqp://u:s3cret@host/\n".utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let resolved = try SecretFiles.resolve(["AMQP_URL_FILE": url.path, "OTHER": "kept"])
        #expect(resolved == ["AMQP_URL": "amqp://u:s3cret@host/", "OTHER": "kept"])
    }

    @Test("both forms, an unreadable file and an empty file are errors that name the variable, not the secret")
    func errors() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("secret-\(UUID().uuidString)")
        try Data("\n".utf8).write(to: empty)
        let full = FileManager.default.temporaryDirectory.appendingPathComponent("secret-\(UUID().uuidString)")
        try Data("s3cret".utf8).write(to: full)
        defer { for url in [empty, full] { try? FileManager.default.removeItem(at: url) } }
        let cases: [([String: String], String)] = [
            (["DATABASE_URL": "x", "DATABASE_URL_FILE": full.path], "is set together with DATABASE_URL"),
            (["PAYMENT_HTTP_API_KEY_FILE": "/nonexistent/key"], "cannot be read: /nonexistent/key"),
            (["API_KEY_FILE": empty.path], "names an empty file"),
        ]
        for (environment, expected) in cases {
            #expect {
                _ = try SecretFiles.resolve(environment)
            } throws: { error in
                let text = "\(error)"
                return text.contains(expected) && !text.contains("s3cret")
            }
        }
    }

    @Test("variables that are not secrets' are left alone")
    func othersUntouched() throws {
        let environment = ["LOG_FILE": "/tmp/x", "COMMERCE_CONFIG": "config/x.json"]
        #expect(try SecretFiles.resolve(environment) == environment)
    }
}
