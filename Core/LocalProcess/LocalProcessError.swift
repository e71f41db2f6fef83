/// Why a child process could not be started or a free loopback port found.
///
/// The description is a whole sentence fragment meant for a person (`cannot create the log file …`),
/// so command-line tools can print it as it is.
public struct LocalProcessError: Error, CustomStringConvertible, Sendable {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
