import CommerceMessages

/// What an order asks of the stock: one line per SKU, with the quantities of a repeated SKU
/// summed, so that reserving checks each SKU once against everything the order wants of it.
///
/// Pure: the stock worker locks the SKU rows in ``lockOrder`` and then asks ``shortages(available:)``
/// whether it may reserve (docs/saga.md, "Each worker's rules for any order of events").
public struct StockDemand: Sendable, Hashable {
    /// One line per SKU, in the order each SKU first appears; quantities ≥ 1.
    public let lines: [StockLine]

    /// Merges `lines` by SKU. A sum too large for `Int` saturates: no stock can cover it anyway.
    public init(_ lines: [StockLine]) {
        var merged: [StockLine] = []
        var positions: [String: Int] = [:]
        for line in lines {
            if let position = positions[line.sku] {
                let (sum, overflow) = merged[position].quantity.addingReportingOverflow(line.quantity)
                merged[position].quantity = overflow ? Int.max : sum
            } else {
                positions[line.sku] = merged.count
                merged.append(line)
            }
        }
        self.lines = merged
    }

    /// The demand of an order's lines.
    public init(_ lines: [OrderLine]) {
        self.init(lines.map { StockLine(sku: $0.sku, quantity: $0.quantity) })
    }

    /// The SKUs in the order their rows are locked: sorted, so that two transactions reserving
    /// overlapping SKUs wait for each other instead of deadlocking.
    public var lockOrder: [String] { lines.map(\.sku).sorted() }

    /// The lines that `available` (units per SKU) cannot cover, in ``lines`` order; empty when
    /// every line can be reserved. A SKU missing from `available` is unknown: 0 available.
    public func shortages(available: [String: Int]) -> [StockShortage] {
        lines.compactMap { line in
            let units = max(available[line.sku] ?? 0, 0)
            return units >= line.quantity
                ? nil : StockShortage(sku: line.sku, requested: line.quantity, available: units)
        }
    }

    /// A person's summary of `shortages`, as in `stock.rejected`'s `message`:
    /// `KB-001: 2 requested, 1 available`.
    public static func describe(_ shortages: [StockShortage]) -> String {
        shortages.map { "\($0.sku): \($0.requested) requested, \($0.available) available" }
            .joined(separator: "; ")
    }
}
