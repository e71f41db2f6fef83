import Foundation

/// One connection setting: the command-line option if given, else the environment variable,
/// else the local default that `scripts/services.sh up` provides.
public enum Setting {
    /// The local scratch database (`DATABASE_URL`'s default) that `commerce smoke` and the lab's
    /// runs use and create their own databases from.
    public static let defaultDatabaseURL =
        "postgresql://commerce:commerce@127.0.0.1:5432/commerce_test?connect_timeout=5"

    public static func resolve(_ option: String?, variable: String, default fallback: String) -> String {
        if let option { return option }
        // An empty variable is treated as unset: `AMQP_URL= commerce …` should not mean "no URL".
        if let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty { return value }
        return fallback
    }

    /// `url` with any password replaced by `***`, for printing: the user info of a URL
    /// (`postgresql://user:secret@host`) and `password=` parameters (query or conninfo form).
    public static func redacted(_ url: String) -> String {
        var text = url
        if let schemeEnd = text.range(of: "://") {
            let rest = text[schemeEnd.upperBound...]
            let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
            if let at = rest[..<authorityEnd].lastIndex(of: "@"),
                let colon = rest[..<at].firstIndex(of: ":")
            {
                text.replaceSubrange(text.index(after: colon)..<at, with: "***")
            }
        }
        return text.replacing(/password=[^&\s]*/, with: "password=***")
    }
}
