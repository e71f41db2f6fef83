/// Why a stock seed was refused: which entry, and what is wrong with it.
public struct StockCatalogError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong, for a person.
    public var problem: String

    /// Creates the error.
    public init(_ problem: String) { self.problem = problem }

    public var description: String { "invalid stock seed: \(problem)" }
}
