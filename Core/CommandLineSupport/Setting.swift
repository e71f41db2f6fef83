import CommerceSupport
import FleetOperations
import Foundation

/// One connection setting: the command-line option if given, else the environment variable,
/// else the local default that `scripts/services.sh up` provides.
public enum Setting {
    /// The local scratch database (`DATABASE_URL`'s default) that `commerce smoke` and the lab's
    /// runs use and create their own databases from.
    public static let defaultDatabaseURL =
        "postgresql://commerce:commerce@127.0.0.1:5432/commerce_test?connect_timeout=5"

    /// The option, else the variable, else `<variable>_FILE`'s content (a secret kept in a file,
    /// as the workers read it: docs/security.md, "Secrets"), else `fallback`.
    public static func resolve(_ option: String?, variable: String, default fallback: String) -> String {
        if let option { return option }
        let environment = ProcessInfo.processInfo.environment
        // An empty variable is treated as unset: `AMQP_URL= commerce …` should not mean "no URL".
        if let value = environment[variable], !value.isEmpty { return value }
        if let path = environment[variable + "_FILE"], !path.isEmpty, let value = SecretFile.contents(atPath: path),
            !value.isEmpty
        {
            return value
        }
        return fallback
    }

    /// `text` with every password replaced by `***`, for printing: the user info of each URL in it
    /// (`postgresql://user:secret@host`; every URL of a comma-separated cluster list) and
    /// `password=` parameters (query or conninfo form).
    public static func redacted(_ text: String) -> String { OperationFailure.redacted(text) }

    /// The local default of a setting as a help text shows it: its password masked.
    public static func shown(_ url: String) -> String { redacted(url).replacing(/\?connect_timeout=\d+/, with: "") }
}
