import ArgumentParser
import CommandLineSupport
import Foundation
import Inventory
import Postgres

/// `commerce stock`: sets, imports and shows the stock of the inventory database through
/// ``Inventory/StockAdministration``, which keeps the `stock_movements` ledger consistent with the
/// counters (docs/saga.md, invariant 4).
struct StockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stock",
        abstract: "Set, import or show the stock of the inventory database.",
        discussion: """
            Quantities are the units available for new orders. Setting a SKU to QTY records an \
            'adjust' movement of QTY minus its current available units, under the SKU's row lock, so \
            the ledger keeps adding up while the stock-worker runs. Units reserved or sold are never \
            touched. The database is --inventory-database only (DATABASE_URL is not read: it may \
            point at another service's database).
            """,
        subcommands: [StockSetCommand.self, StockImportCommand.self, StockShowCommand.self])
}

/// `--inventory-database`, shared by the `stock` subcommands.
struct InventoryDatabaseOptions: ParsableArguments {
    /// The local inventory as its owner: `stock set` and `stock import` write it.
    static let defaultURL = StoreOptions.localURL(.inventory, role: StoreOptions.Store.inventory.owner)

    @Option(
        help: ArgumentHelp(
            "The stock-worker's database (env INVENTORY_DATABASE_URL; default \(Setting.shown(Self.defaultURL))).",
            valueName: "url"))
    var inventoryDatabase: String?

    var url: String {
        Setting.resolve(inventoryDatabase, variable: StoreOptions.Store.inventory.variable, default: Self.defaultURL)
    }

    var address: String { Setting.redacted(url) }

    func connect() throws -> PostgresConnection {
        do {
            return try PostgresConnection(url: url, applicationName: "commerce-stock")
        } catch {
            throw CommandFailure("cannot reach the inventory database at \(address): \(CommandFailure.describe(error))")
        }
    }
}

/// One SKU's change by `stock set` or `stock import`.
typealias StockChange = StockAdministration.Change

/// The readable report of `stock set` and `stock import`.
enum StockWriter {
    static func printChanges(_ changes: [StockChange], database: String) {
        print("PostgreSQL \(database)")
        for change in changes {
            let name = change.name.map { " (\($0))" } ?? ""
            let what: String
            if change.previous == nil {
                what = "created, available \(change.available)"
            } else if change.adjustment == 0 {
                what = "unchanged, available \(change.available)"
            } else {
                let sign = change.adjustment > 0 ? "+" : ""
                what = "available \(change.previous ?? 0) → \(change.available) (adjust \(sign)\(change.adjustment))"
            }
            print("  \(change.sku)\(name): \(what)")
        }
    }
}

/// Reports `message` (also as JSON with `--json`), then exits with status 1.
func stockFailure(_ message: String, _ output: OutputOptions) -> CommandFailure {
    if output.json {
        struct Failure: Encodable { var error: String }
        output.printJSON(Failure(error: message))
    }
    return CommandFailure(message)
}

struct StockSetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set", abstract: "Set a SKU's available units (creating the SKU if it is new).")

    @Argument(help: ArgumentHelp("The product id.", valueName: "sku"))
    var sku: String

    @Argument(help: ArgumentHelp("Units available for new orders, 0 or more.", valueName: "qty"))
    var quantity: Int

    @Option(help: ArgumentHelp("A display name, shown in the report (not stored).", valueName: "name"))
    var name: String?

    @OptionGroup var database: InventoryDatabaseOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        do {
            _ = try StockCatalog(stock: [StockSeed(sku: sku, name: name, quantity: quantity)])
        } catch {
            // The same checks as a catalog file: available can never go negative, nor past the column's range.
            throw ValidationError(error.description.replacingOccurrences(of: "stock[0].", with: ""))
        }
    }

    func run() throws {
        let connection = try database.connect()
        defer { connection.close() }
        let changes: [StockChange]
        do {
            changes = try StockAdministration.set([StockSeed(sku: sku, name: name, quantity: quantity)], on: connection)
        } catch {
            throw stockFailure(
                "could not set \(sku) in \(database.address): \(CommandFailure.describe(error))", output)
        }
        if output.json {
            output.printJSON(changes[0])
        } else {
            StockWriter.printChanges(changes, database: database.address)
        }
    }
}

struct StockImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Set the available units of every SKU of a catalog file (the format of config/stock.json).")

    @Argument(help: ArgumentHelp("A catalog: {\"stock\": [{\"sku\", \"name\", \"quantity\"}, …]}.", valueName: "file"))
    var file: String

    @OptionGroup var database: InventoryDatabaseOptions
    @OptionGroup var output: OutputOptions

    struct Report: Encodable {
        var database: String
        var file: String
        var changes: [StockChange]
    }

    func run() throws {
        let catalog: StockCatalog
        do {
            catalog = try StockCatalog(contentsOf: URL(fileURLWithPath: file))
        } catch {
            throw stockFailure("\(file): \(error.description)", output)
        }
        let connection = try database.connect()
        defer { connection.close() }
        let changes: [StockChange]
        do {
            changes = try StockAdministration.set(catalog.stock, on: connection)
        } catch {
            throw stockFailure(
                "could not import \(file) into \(database.address): \(CommandFailure.describe(error))", output)
        }
        if output.json {
            output.printJSON(Report(database: database.address, file: file, changes: changes))
        } else {
            StockWriter.printChanges(changes, database: database.address)
        }
    }
}

struct StockShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show SKUs' counters, their ledger totals per movement kind and any ledger violation.",
        discussion: """
            Without SKUs, shows every SKU. Runs the inventory audit (invariant 4 of docs/saga.md) \
            over the SKUs shown; exit status 1 if it finds a violation or a SKU is not stocked.
            """)

    @Argument(help: ArgumentHelp("SKUs to show (default: all).", valueName: "sku"))
    var skus: [String] = []

    @OptionGroup var database: InventoryDatabaseOptions
    @OptionGroup var output: OutputOptions

    struct Entry: Encodable {
        var sku: String
        var available: Int?
        var reserved: Int?
        var sold: Int?
        /// The ledger's total per movement kind, every kind present.
        var movements: [String: Int]
        var violations: [String]
    }

    struct Report: Encodable {
        var database: String
        var skus: [Entry]
        var missing: [String]
        var violations: Int
    }

    func run() throws {
        let connection = try database.connect()
        defer { connection.close() }
        var positions: [InventoryAudit.Position]
        do {
            guard try StockAdministration.tableExists(in: connection) else {
                throw CommandFailure(
                    "the database at \(database.address) has no stock table: run `commerce setup` or `commerce stock import` first"
                )
            }
            positions = try InventoryAudit.positions(on: connection)
        } catch let failure as CommandFailure {
            throw stockFailure(failure.description, output)
        } catch {
            throw stockFailure("could not read \(database.address): \(CommandFailure.describe(error))", output)
        }
        var missing: [String] = []
        if !skus.isEmpty {
            let known = Set(positions.map(\.sku))
            missing = skus.filter { !known.contains($0) }
            let wanted = Set(skus)
            positions = positions.filter { wanted.contains($0.sku) }
        }
        let violations = InventoryAudit.violations(in: positions)
        let entries = positions.map { position in
            Entry(
                sku: position.sku, available: position.available, reserved: position.reserved, sold: position.sold,
                movements: Dictionary(
                    uniqueKeysWithValues: StockMovementKind.allCases.map { ($0.rawValue, position.movements[$0] ?? 0) }),
                violations: violations.filter { $0.sku == position.sku }.map(\.problem))
        }
        if output.json {
            output.printJSON(
                Report(database: database.address, skus: entries, missing: missing, violations: violations.count))
        } else {
            printTable(entries, missing: missing)
        }
        if !missing.isEmpty {
            throw CommandFailure("not stocked in \(database.address): \(missing.joined(separator: ", "))")
        }
        if !violations.isEmpty {
            throw CommandFailure("\(violations.count) ledger violation(s) in \(database.address)")
        }
    }

    private func printTable(_ entries: [Entry], missing: [String]) {
        print("PostgreSQL \(database.address)")
        let width = max(12, entries.map(\.sku.count).max() ?? 0) + 2
        func pad(_ text: String) -> String { text + String(repeating: " ", count: max(0, width - text.count)) }
        func right(_ text: String, _ width: Int = 10) -> String {
            String(repeating: " ", count: max(0, width - text.count)) + text
        }
        let kinds = StockMovementKind.allCases.map(\.rawValue)
        print(pad("SKU") + ["AVAILABLE", "RESERVED", "SOLD"].map { right($0) }.joined() + "  LEDGER")
        for entry in entries {
            let counters = [entry.available, entry.reserved, entry.sold].map { right($0.map(String.init) ?? "-") }
            let ledger = kinds.map { "\($0) \(entry.movements[$0] ?? 0)" }.joined(separator: ", ")
            print(pad(entry.sku) + counters.joined() + "  " + ledger)
            for problem in entry.violations { print("  ✗ \(problem)") }
        }
        for sku in missing { print(pad(sku) + right("missing")) }
    }
}
