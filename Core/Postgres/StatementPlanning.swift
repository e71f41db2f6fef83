/// How the server plans the executions of a prepared statement: the session's `plan_cache_mode`
/// and `enable_seqscan` (docs/architecture.md, "Statements").
///
/// Planning is a large part of what a short statement costs: a worker's statements are point
/// lookups and inserts by key, run thousands of times a second, and the profile of a loaded
/// inventory database showed 40 % of its backend's time in the planner when every execution was
/// planned anew (docs/benchmarks.md, "What bounds the throughput").
public struct StatementPlanning: Sendable, Hashable, CustomStringConvertible {
    /// `plan_cache_mode`: `auto`, `force_custom_plan` or `force_generic_plan`.
    public var planCacheMode: String
    /// `enable_seqscan`. Off does not forbid a sequential scan, it prices it out whenever an index
    /// can serve.
    public var sequentialScans: Bool

    /// Every execution planned for its own values. For programs that run a statement a few times
    /// (the `commerce` tool, the audit), where planning costs nothing worth saving.
    public static let perExecution = StatementPlanning(planCacheMode: "force_custom_plan", sequentialScans: true)

    /// PostgreSQL's own choice (`auto`: custom plans for the first five executions, then the
    /// generic plan if it is not dearer), with sequential scans priced out. The guard is what
    /// makes caching safe for a worker: a generic plan chosen while a table was nearly empty
    /// would otherwise keep scanning it once it has grown; with the guard it uses the index the
    /// statement was written for.
    public static let cached = StatementPlanning(planCacheMode: "auto", sequentialScans: false)

    /// The configuration names: `cached` or `per-execution`.
    public init?(name: String) {
        switch name {
        case "cached": self = .cached
        case "per-execution": self = .perExecution
        default: return nil
        }
    }

    public init(planCacheMode: String, sequentialScans: Bool) {
        self.planCacheMode = planCacheMode
        self.sequentialScans = sequentialScans
    }

    public var description: String {
        switch self {
        case .cached: "cached"
        case .perExecution: "per-execution"
        default: "plan_cache_mode=\(planCacheMode), enable_seqscan=\(sequentialScans ? "on" : "off")"
        }
    }
}
