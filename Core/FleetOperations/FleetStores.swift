/// Where the fleet's four stores are: the three services' PostgreSQL databases and the
/// notification-worker's MongoDB. Plain URLs, already resolved (the command-line tools resolve
/// them from options and environment variables, `StoreOptions`); they may hold passwords, which
/// every message of this module redacts.
public struct FleetStores: Sendable {
    /// The order-worker's database.
    public var orders: String
    /// The stock-worker's database.
    public var inventory: String
    /// The payment-worker's database.
    public var payments: String
    /// The notification-worker's MongoDB.
    public var mongoURL: String
    /// The database of the notification collection and its journal on `mongoURL`.
    public var mongoDatabase: String

    public init(orders: String, inventory: String, payments: String, mongoURL: String, mongoDatabase: String) {
        self.orders = orders
        self.inventory = inventory
        self.payments = payments
        self.mongoURL = mongoURL
        self.mongoDatabase = mongoDatabase
    }
}
