import Foundation
import Postgres

/// The stock a fresh inventory starts with, as read from `config/stock.json`:
/// `{"stock": [{"sku": "KB-001", "name": "Keyboard", "quantity": 100}, …]}`.
///
/// The stock worker applies it at every connect (`stock.seedFile`) and `commerce` may apply it
/// too: ``apply(to:)`` only adds SKUs that are missing, so counts that moved are never reset.
public struct StockCatalog: Sendable, Hashable {
    /// One entry per SKU.
    public let stock: [StockSeed]

    /// A checked catalog: SKUs non-empty, at most 255 bytes and unique; quantities in 0…2³¹−1
    /// (the range of the `stock` columns).
    /// - Throws: ``StockCatalogError`` naming the first bad entry.
    public init(stock: [StockSeed]) throws(StockCatalogError) {
        var seen: Set<String> = []
        for (index, entry) in stock.enumerated() {
            if entry.sku.isEmpty || entry.sku.utf8.count > 255
                || entry.sku.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
            {
                throw StockCatalogError("stock[\(index)].sku must be 1 to 255 bytes without control characters")
            }
            if !(0...Int(Int32.max)).contains(entry.quantity) {
                throw StockCatalogError("stock[\(index)].quantity must be in 0...\(Int32.max), got \(entry.quantity)")
            }
            if !seen.insert(entry.sku).inserted {
                throw StockCatalogError("stock[\(index)].sku '\(entry.sku)' appears twice")
            }
        }
        self.stock = stock
    }

    /// Decodes and checks a catalog from its JSON.
    /// - Throws: ``StockCatalogError``.
    public init(json: Data) throws(StockCatalogError) {
        struct File: Decodable { var stock: [StockSeed] }
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: json)
        } catch {
            throw StockCatalogError("not a {\"stock\": [{\"sku\", \"quantity\"}]} document: \(error)")
        }
        try self.init(stock: file.stock)
    }

    /// Reads a catalog file.
    /// - Throws: ``StockCatalogError`` if it cannot be read or is invalid.
    public init(contentsOf url: URL) throws(StockCatalogError) {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw StockCatalogError("cannot read \(url.path): \(error.localizedDescription)")
        }
        try self.init(json: data)
    }

    /// Where a worker looks for its seed when `stock.seedFile` is not set.
    public static let defaultPath = "config/stock.json"

    /// The seed a worker is configured with: the file at `path` (`stock.seedFile`); without one,
    /// ``defaultPath`` if that file exists; otherwise no seed.
    /// - Throws: ``StockCatalogError`` if the file cannot be read or is invalid.
    public static func configured(path: String?) throws(StockCatalogError) -> StockCatalog? {
        guard let path = path ?? (FileManager.default.fileExists(atPath: defaultPath) ? defaultPath : nil) else {
            return nil
        }
        return try StockCatalog(contentsOf: URL(fileURLWithPath: path))
    }

    /// Adds every SKU `database` does not stock yet, with an `adjust` movement for its units, in
    /// one statement (atomic on its own, or part of the caller's transaction). SKUs already there
    /// are left alone, so applying the catalog again changes nothing. Needs ``InventorySchema``.
    /// - Returns: how many SKUs were added.
    @discardableResult
    public func apply(to database: PostgresConnection) throws(PostgresError) -> Int {
        guard !stock.isEmpty else { return 0 }
        let result = try database.query(
            """
            with added as (
                insert into stock (sku, available, reserved, sold)
                select t.sku, t.quantity, 0, 0 from unnest($1::text[], $2::int[]) as t(sku, quantity)
                on conflict (sku) do nothing
                returning sku, available
            )
            insert into stock_movements (sku, order_id, kind, quantity)
            select sku, null, 'adjust', available from added
            """, [.textArray(stock.map(\.sku)), .intArray(stock.map { Int64($0.quantity) })])
        return result.affectedRows
    }
}
