/// An aligned text table for the readable output of a command: a header and rows of cells,
/// each column as wide as its widest cell, numbers right-aligned.
public struct TextTable {
    public enum Alignment { case left, right }

    public var headers: [String]
    public var alignments: [Alignment]
    public var rows: [[String]] = []

    /// A table with `headers`; `rightAligned` names the columns (by header) to align right.
    public init(_ headers: [String], rightAligned: Set<String> = []) {
        self.headers = headers
        alignments = headers.map { rightAligned.contains($0) ? .right : .left }
    }

    public mutating func append(_ row: [String]) { rows.append(row) }

    /// The lines of the table, each indented by `indent`; the last column is not padded.
    public func lines(indent: String = "") -> [String] {
        var widths = headers.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        return ([headers] + rows).map { row in
            var line = indent
            for (index, cell) in row.enumerated() where index < widths.count {
                let padding = String(repeating: " ", count: max(0, widths[index] - cell.count))
                let last = index == row.count - 1
                switch alignments[index] {
                case .left: line += last ? cell : cell + padding
                case .right: line += padding + cell
                }
                if !last { line += "  " }
            }
            return line
        }
    }

    public func print(indent: String = "") {
        for line in lines(indent: indent) { Swift.print(line) }
    }
}
