/// A failure the user can act on: printed as one message (`Error: …`), exit status 1.
///
/// Thrown instead of the wrapped library error so that the message says what the command was
/// doing and what to try next.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }

    /// What to tell someone whose server did not answer.
    static let startServersHint = "start the local servers with `scripts/services.sh up`"

    /// What to tell someone whose login was refused.
    static let credentialsHint =
        "check the user and password in the URL (`scripts/services.sh up` creates commerce/commerce)"
}
