import CMongoC

/// A connection to a MongoDB deployment: owns one `mongoc_client_t`.
///
/// **Threading.** A `mongoc_client_t` is not thread-safe, so a client and every
/// ``MongoCollection`` taken from it must be used by one thread at a time; the class is
/// deliberately not `Sendable`. Every method **blocks** the calling thread on network I/O (up to
/// the configured timeouts), so call it from a dedicated thread or a serial task executor, never
/// from Swift's cooperative pool. Make one client per thread that needs one.
///
/// **Lifetime.** `deinit` calls `mongoc_client_destroy`. A collection holds a strong reference
/// to its client, so the client is destroyed only after its last collection handle, which is
/// the order libmongoc requires. libmongoc itself is initialised on first use (see
/// ``MongoLibrary``).
public final class MongoClient {
    /// How to reach the server.
    public struct Configuration: Sendable {
        /// The local default: SecantusDB on loopback with retryable writes off. Retryable
        /// writes make that server keep a record per write and slow down after some thousands
        /// of writes; idempotency comes from unique indexes and the worker's own retries
        /// instead (docs/architecture.md, "MongoDB store").
        public static let defaultURI = "mongodb://127.0.0.1:27017/?retryWrites=false"

        /// A MongoDB connection string (`mongodb://…` or `mongodb+srv://…`). Credentials may be
        /// in it; this module never logs it or puts it in an error.
        public var uri: String
        /// Sent to the server in the handshake (`appname`), shown in its logs and `currentOp`;
        /// `nil` keeps the URI's value.
        public var appName: String?
        /// How long to wait for a TCP connection (`connectTimeoutMS`); `nil` keeps the URI's
        /// value or libmongoc's default of 10 s.
        public var connectTimeout: Duration?
        /// How long one network read or write may block (`socketTimeoutMS`); `nil` keeps the
        /// URI's value or libmongoc's default of 5 minutes.
        public var socketTimeout: Duration?
        /// How long an operation waits for a usable server before failing with
        /// ``MongoError/Code-swift.struct/connectionFailed`` (`serverSelectionTimeoutMS`); `nil`
        /// keeps the URI's value or libmongoc's default of 30 s.
        public var serverSelectionTimeout: Duration?

        /// A configuration. The timeouts given here override the same options in `uri`.
        ///
        /// Defaults: connect 5 s, socket 30 s, server selection 5 s, so a missing server is
        /// reported within seconds and a hung one cannot hold a worker thread for minutes.
        public init(
            uri: String = Configuration.defaultURI,
            appName: String? = nil,
            connectTimeout: Duration? = .seconds(5),
            socketTimeout: Duration? = .seconds(30),
            serverSelectionTimeout: Duration? = .seconds(5)
        ) {
            self.uri = uri
            self.appName = appName
            self.connectTimeout = connectTimeout
            self.socketTimeout = socketTimeout
            self.serverSelectionTimeout = serverSelectionTimeout
        }
    }

    let handle: OpaquePointer

    /// Creates a client (`mongoc_uri_new_with_error`, `mongoc_client_new_from_uri_with_error`).
    ///
    /// Does not connect: libmongoc connects on the first operation. Call ``ping()`` to find out
    /// now whether the server answers.
    ///
    /// - Throws: ``MongoError/Code-swift.struct/invalidURI`` when the URI or an option is
    ///   invalid.
    public init(configuration: Configuration = Configuration()) throws(MongoError) {
        try MongoLibrary.initialize()
        var error = bson_error_t()
        guard let uri = mongoc_uri_new_with_error(configuration.uri, &error) else {
            let wrapped = MongoError(wrapping: error)
            throw MongoError(
                code: .invalidURI, domain: wrapped.domain, serverCode: wrapped.serverCode, message: wrapped.message)
        }
        defer { mongoc_uri_destroy(uri) }
        let timeouts: [(String, Duration?)] = [
            (MONGOC_URI_CONNECTTIMEOUTMS, configuration.connectTimeout),
            (MONGOC_URI_SOCKETTIMEOUTMS, configuration.socketTimeout),
            (MONGOC_URI_SERVERSELECTIONTIMEOUTMS, configuration.serverSelectionTimeout),
        ]
        for case (let option, let timeout?) in timeouts {
            guard mongoc_uri_set_option_as_int32(uri, option, Self.milliseconds(timeout)) else {
                throw MongoError(code: .invalidURI, message: "invalid value for \(option)")
            }
        }
        if let appName = configuration.appName, !mongoc_uri_set_appname(uri, appName) {
            throw MongoError(code: .invalidURI, message: "invalid appname (at most 128 bytes)")
        }
        guard let client = mongoc_client_new_from_uri_with_error(uri, &error) else {
            throw MongoError(wrapping: error)
        }
        // Version 2 reports every server error in the MONGOC_ERROR_SERVER domain with the
        // server's own code, which is what MongoError.isDuplicateKey relies on.
        mongoc_client_set_error_api(client, 2)
        handle = client
    }

    /// Creates a client for `uri` with the default timeouts of ``Configuration``.
    public convenience init(uri: String = Configuration.defaultURI, appName: String? = nil) throws(MongoError) {
        try self.init(configuration: Configuration(uri: uri, appName: appName))
    }

    deinit {
        mongoc_client_destroy(handle)
    }

    /// Sends `{ping: 1}` to the `admin` database and waits for the answer. Blocks.
    ///
    /// - Throws: ``MongoError/Code-swift.struct/connectionFailed`` when no server answered
    ///   within the server selection timeout.
    public func ping() throws(MongoError) {
        _ = try runCommand(["ping": .int32(1)], database: "admin")
    }

    /// Runs a database command and returns the server's reply (`mongoc_client_command_simple`,
    /// primary read preference). Blocks.
    ///
    /// - Parameters:
    ///   - command: The command; its first key names it (`["dbStats": 1]`).
    ///   - database: The database to run it in.
    public func runCommand(_ command: Document, database: String) throws(MongoError) -> Document {
        let commandBSON = try BSONHandle(encoding: command)
        let reply = BSONHandle.reply()
        var error = bson_error_t()
        guard mongoc_client_command_simple(handle, database, commandBSON.pointer, nil, reply.pointer, &error) else {
            throw MongoError(wrapping: error, reply: try? reply.decode())
        }
        return try reply.decode()
    }

    /// A handle on the collection `name` of `database` (`mongoc_client_get_collection`).
    ///
    /// Creates nothing on the server: MongoDB creates a collection on its first write. The
    /// handle keeps this client alive and is confined to the same thread.
    public func collection(_ name: String, in database: String) -> MongoCollection {
        MongoCollection(client: self, databaseName: database, name: name)
    }

    /// Drops a whole database (`mongoc_database_drop_with_opts`). Blocks.
    ///
    /// Dropping a database that does not exist succeeds.
    public func dropDatabase(_ name: String) throws(MongoError) {
        let database = mongoc_client_get_database(handle, name)
        defer { mongoc_database_destroy(database) }
        var error = bson_error_t()
        guard mongoc_database_drop_with_opts(database, nil, &error) else {
            throw MongoError(wrapping: error)
        }
    }

    private static func milliseconds(_ duration: Duration) -> Int32 {
        let (seconds, attoseconds) = duration.components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return Int32(clamping: max(milliseconds, 0))
    }
}

// A client's C handle must stay on one thread at a time; this makes the rule a compile error.
@available(*, unavailable)
extension MongoClient: Sendable {}
