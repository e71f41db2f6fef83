import CommerceSupport
import Foundation
import WorkerRuntime

/// Secrets read from files: for each secret setting, `<VARIABLE>_FILE` names a file whose content
/// is the value (the container convention: Docker and Kubernetes secrets, systemd's
/// `LoadCredential`), so that a password need not sit in the environment, a command line or a
/// unit file (docs/security.md, "Secrets").
public enum SecretFiles {
    /// The settings read as secrets (``ConfigReader`` with `isSecret: true`): never logged, and
    /// accepted from a file.
    public static let secretKeys = [
        "amqp.url", "database.url", "payment.http.apiKey", "api.key", "tracing.otlpHeaders",
    ]

    /// The environment variable that overrides a configuration key: `amqp.url` → `AMQP_URL`,
    /// `payment.http.apiKey` → `PAYMENT_HTTP_API_KEY` (as the environment provider reads it).
    public static func variable(for key: String) -> String {
        var name = ""
        for character in key {
            if character == "." {
                name.append("_")
            } else if character.isUppercase {
                name.append("_")
                name.append(character)
            } else {
                name.append(contentsOf: character.uppercased())
            }
        }
        return name
    }

    /// `environment` with every `<VARIABLE>_FILE` of a secret key replaced by `<VARIABLE>` set to
    /// the file's content (one trailing newline removed, as editors and `echo` add it).
    /// - Throws: ``WorkerConfigurationError`` when both `<VARIABLE>` and `<VARIABLE>_FILE` are set,
    ///   or the file cannot be read or is empty; the message names the variable and the path, never
    ///   the content.
    public static func resolve(
        _ environment: [String: String], keys: [String] = secretKeys
    ) throws(WorkerConfigurationError) -> [String: String] {
        var resolved = environment
        for key in keys {
            let variable = variable(for: key)
            guard let path = environment[variable + "_FILE"] else { continue }
            resolved.removeValue(forKey: variable + "_FILE")
            if environment[variable] != nil {
                throw WorkerConfigurationError(
                    key: variable + "_FILE", problem: "is set together with \(variable): set one of them")
            }
            guard let value = SecretFile.contents(atPath: path) else {
                throw WorkerConfigurationError(
                    key: variable + "_FILE", problem: "names a file that cannot be read: \(path)")
            }
            guard !value.isEmpty else {
                throw WorkerConfigurationError(key: variable + "_FILE", problem: "names an empty file: \(path)")
            }
            resolved[variable] = value
        }
        return resolved
    }
}
