/// How the server plans the executions of a prepared statement: the session's `plan_cache_mode`
/// and `enable_seqscan` (docs/architecture.md, "Planning").
///
/// Planning is a large part of what a short statement costs: a worker's statements are point
/// lookups, locks and inserts by key, run thousands of times a second, and a profile of a loaded
/// inventory database showed 40 % of its backend's time in the planner when every execution was
/// planned anew (docs/benchmarks.md, "Before and after").
public struct StatementPlanning: Sendable, Hashable, CustomStringConvertible {
    /// `plan_cache_mode`: `auto`, `force_custom_plan` or `force_generic_plan`.
    public var planCacheMode: String
    /// `enable_seqscan`. Off does not forbid a sequential scan, it prices it out wherever an index
    /// can serve.
    public var sequentialScans: Bool

    /// Each statement is planned once per session, for any values (`force_generic_plan`), with
    /// sequential scans priced out. The workers' default. The guard is what makes one plan safe:
    /// a plan made while a table was nearly empty would otherwise scan it for ever once it has
    /// grown; with the guard it uses the index the statement was written for.
    public static let generic = StatementPlanning(planCacheMode: "force_generic_plan", sequentialScans: false)

    /// PostgreSQL's own choice (`auto`: custom plans for the first five executions, then the
    /// generic plan unless it looks dearer), with the same guard. Statements whose custom plans
    /// look cheaper (a lock of an array of keys) keep being planned every time.
    public static let auto = StatementPlanning(planCacheMode: "auto", sequentialScans: false)

    /// Every execution planned for its own values, sequential scans allowed. For programs that
    /// run a statement a few times (the `commerce` tool, the audit), where a plan costs nothing
    /// worth saving and a scan may be the right plan.
    public static let perExecution = StatementPlanning(planCacheMode: "force_custom_plan", sequentialScans: true)

    /// The configuration names (`database.planning`): `generic`, `auto` or `per-execution`.
    public init?(name: String) {
        switch name {
        case "generic": self = .generic
        case "auto": self = .auto
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
        case .generic: "generic"
        case .auto: "auto"
        case .perExecution: "per-execution"
        default: "plan_cache_mode=\(planCacheMode), enable_seqscan=\(sequentialScans ? "on" : "off")"
        }
    }
}
