import FleetOperations

/// A failure the user can act on: printed as one message (`Error: …`), exit status 1. The
/// operations library's ``FleetOperations/OperationFailure`` under the name the commands use, so
/// that a failure of the library and one of a command read and exit alike.
public typealias CommandFailure = OperationFailure
