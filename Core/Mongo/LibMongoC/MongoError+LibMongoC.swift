import CMongoC

extension MongoError {
    /// The error libmongoc reported in `error`, classified by its domain; `reply`, when the call
    /// had one, contributes its `writeErrors`.
    ///
    /// Requires error API version 2 (`mongoc_client_set_error_api`), under which every error
    /// the server sends has domain `MONGOC_ERROR_SERVER` and the server's own code.
    init(wrapping error: bson_error_t, reply: Document? = nil) {
        let message = withUnsafeBytes(of: error.message) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        let code: Code =
            switch error.domain {
            case MONGOC_ERROR_SERVER_SELECTION.rawValue, MONGOC_ERROR_STREAM.rawValue: .connectionFailed
            case MONGOC_ERROR_SERVER.rawValue: .serverError
            case MONGOC_ERROR_WRITE_CONCERN.rawValue: .writeConcernFailed
            case MONGOC_ERROR_BSON.rawValue: .invalidDocument
            default: .clientError
            }
        self.init(
            code: code, domain: error.domain, serverCode: error.code, message: message,
            writeErrors: reply.map(Self.writeErrors(in:)) ?? [])
    }

    /// The `writeErrors` array of a write command's reply.
    static func writeErrors(in reply: Document) -> [WriteError] {
        guard let errors = reply["writeErrors"]?.arrayValue else { return [] }
        return errors.compactMap { element in
            guard let error = element.documentValue else { return nil }
            return WriteError(
                index: error["index"]?.intValue ?? -1,
                code: error["code"]?.intValue ?? 0,
                message: error["errmsg"]?.stringValue ?? "")
        }
    }
}
