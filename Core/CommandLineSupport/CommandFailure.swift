import AMQP
import Mongo
import Postgres

/// A failure the user can act on: printed as one message (`Error: …`), exit status 1.
///
/// Thrown instead of the wrapped library error so that the message says what the command was
/// doing and what to try next.
public struct CommandFailure: Error, CustomStringConvertible {
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
}
