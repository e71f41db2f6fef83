import CMongoC

extension ObjectID {
    /// A new, unique ObjectId from libmongoc's generator (`bson_oid_init`). Thread-safe.
    public init() {
        var oid = bson_oid_t()
        bson_oid_init(&oid, nil)
        self.init(oid)
    }

    init(_ oid: bson_oid_t) {
        self.init(bytes: withUnsafeBytes(of: oid.bytes) { Array($0) })!
    }
}

extension bson_oid_t {
    init(_ objectID: ObjectID) {
        self.init()
        withUnsafeMutableBytes(of: &bytes) { $0.copyBytes(from: objectID.bytes) }
    }
}
