/// An error from libmongoc or from the MongoDB server, with the driver's domain and code.
///
/// Every failing call of this module throws this one type. Switch on ``code`` for the kind of
/// failure, and read ``isDuplicateKey`` to recognise a unique-index violation (server code
/// 11000), which is how an idempotent insert learns that its document is already stored.
///
/// ``description`` leaves out the part of a duplicate-key message that quotes the key's values
/// (they may be personal data); ``debugDescription`` has everything.
public struct MongoError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The kind of failure. A struct with static members, so kinds can be added without
    /// breaking a caller's `switch`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Backing: Hashable, Sendable {
            case invalidURI
            case connectionFailed
            case serverError
            case writeConcernFailed
            case invalidDocument
            case clientError
            case libraryCleanedUp
        }

        private let backing: Backing
        private init(_ backing: Backing) { self.backing = backing }

        /// The URI could not be parsed (`mongoc_uri_new_with_error`).
        public static let invalidURI = Code(.invalidURI)
        /// No server could be selected or the connection broke (libmongoc domains
        /// `MONGOC_ERROR_SERVER_SELECTION` and `MONGOC_ERROR_STREAM`): worth retrying later.
        public static let connectionFailed = Code(.connectionFailed)
        /// The server refused the operation; ``MongoError/serverCode`` says why (11000 is a
        /// duplicate key).
        public static let serverError = Code(.serverError)
        /// The write was applied but the write concern was not satisfied.
        public static let writeConcernFailed = Code(.writeConcernFailed)
        /// A ``Document`` could not be encoded (a key containing NUL, a document over the size
        /// limit) or a server reply held a BSON type that ``BSONValue`` does not represent.
        public static let invalidDocument = Code(.invalidDocument)
        /// Any other libmongoc failure (protocol, cursor, command, invalid options).
        public static let clientError = Code(.clientError)
        /// A client was created after ``MongoLibrary/cleanUp()``.
        public static let libraryCleanedUp = Code(.libraryCleanedUp)

        /// The kind's name.
        public var description: String {
            switch backing {
            case .invalidURI: "invalidURI"
            case .connectionFailed: "connectionFailed"
            case .serverError: "serverError"
            case .writeConcernFailed: "writeConcernFailed"
            case .invalidDocument: "invalidDocument"
            case .clientError: "clientError"
            case .libraryCleanedUp: "libraryCleanedUp"
            }
        }
    }

    /// One document's failure inside a multi-document write (`writeErrors` of the reply).
    public struct WriteError: Sendable, Hashable {
        /// The position of the failed document in the array given to the call.
        public var index: Int
        /// The server's error code (11000 for a duplicate key).
        public var code: Int
        /// The server's message.
        public var message: String

        /// Whether this document violated a unique index.
        public var isDuplicateKey: Bool { MongoError.duplicateKeyCodes.contains(code) }

        /// Creates a write error.
        public init(index: Int, code: Int, message: String) {
            self.index = index
            self.code = code
            self.message = message
        }
    }

    /// The kind of failure.
    public var code: Code
    /// `bson_error_t.domain`: the libmongoc error domain (`mongoc_error_domain_t`), 0 when the
    /// error was raised by this wrapper.
    public var domain: UInt32
    /// `bson_error_t.code`: with the server domains, the server's own error code.
    public var serverCode: UInt32
    /// The message of libmongoc or of the server.
    public var message: String
    /// The per-document failures a write reported, if any (for example every duplicate of an
    /// ordered insert that stopped at the first one).
    public var writeErrors: [WriteError]

    /// Creates an error. Errors of libmongoc are made by the internal `wrapping:` factory.
    public init(code: Code, domain: UInt32 = 0, serverCode: UInt32 = 0, message: String, writeErrors: [WriteError] = [])
    {
        self.code = code
        self.domain = domain
        self.serverCode = serverCode
        self.message = message
        self.writeErrors = writeErrors
    }

    /// Whether a unique index was violated: the server code is 11000 (or the legacy 11001), or
    /// one of the ``writeErrors`` is.
    public var isDuplicateKey: Bool {
        (code == .serverError && Self.duplicateKeyCodes.contains(Int(serverCode)))
            || writeErrors.contains(where: \.isDuplicateKey)
    }

    static let duplicateKeyCodes: Set<Int> = [11000, 11001]

    /// The kind, codes and message, without the key values a duplicate-key message quotes.
    public var description: String {
        var text = message
        if let range = text.range(of: " dup key:") {
            text = String(text[..<range.lowerBound]) + " dup key: <redacted>"
        }
        return "MongoError(\(code), domain: \(domain), code: \(serverCode)): \(text)"
    }

    /// Everything, including the per-document write errors.
    public var debugDescription: String {
        var text = "MongoError(\(code), domain: \(domain), code: \(serverCode)): \(message)"
        for writeError in writeErrors {
            text += "\n  writeErrors[\(writeError.index)] code \(writeError.code): \(writeError.message)"
        }
        return text
    }
}
