import AMQP
import Mongo
import Postgres

/// A failure the operator can act on: one message that says what was being done and what to try
/// next, with every password redacted. The command-line tools print it as `Error: …` and exit 1
/// (there it is spelled `CommandFailure`); a console shows it as it is.
///
/// Thrown instead of the wrapped library error so that the message says what the operation was
/// doing and what to try next.
public struct OperationFailure: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }

    /// What to tell someone whose server did not answer.
    public static let startServersHint = "start the local servers with `scripts/services.sh up`"

    /// What to tell someone whose login was refused.
    public static let credentialsHint =
        "check the user and password in the URL (`scripts/services.sh up` creates commerce/commerce)"

    /// The message shown for a failed step: the wrapper's description (which never holds a
    /// password), plus how to start the servers when one did not answer.
    public static func describe(_ error: any Error) -> String {
        switch error {
        case let error as AMQPError where error.code == .connectionFailed:
            "\(error); \(startServersHint)"
        case let error as AMQPError where error.code == .loginFailed:
            "\(error); \(credentialsHint)"
        case let error as PostgresError where error.code == .connectionFailed:
            // libpq reports a refused connection, a bad password and a missing database alike.
            "\(error); check the URL (`scripts/services.sh up` starts PostgreSQL and creates the commerce role and databases)"
        case let error as MongoError where error.code == .connectionFailed:
            "\(error); \(startServersHint)"
        default:
            "\(error)"
        }
    }

    /// `text` with every password replaced by `***`, for a message or a report: the user info of
    /// each URL in it (`postgresql://user:secret@host`; every URL of a comma-separated cluster
    /// list) and `password=` parameters (query or conninfo form).
    public static func redacted(_ text: String) -> String {
        text.replacing(/(?<scheme>[a-z][a-z0-9+.-]*:\/\/)(?<user>[^\/\s:@,?#]*):(?<password>[^\/\s@,?#]*)@/) {
            "\($0.output.scheme)\($0.output.user):***@"
        }
        .replacing(/password=[^&\s,]*/, with: "password=***")
    }
}
