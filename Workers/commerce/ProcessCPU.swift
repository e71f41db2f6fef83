import Foundation
import Glibc

/// CPU time of processes, read from `/proc/<pid>/stat` (user + system time, in clock ticks), for
/// the benchmark's CPU per message of the worker, RabbitMQ and PostgreSQL.
enum ProcessCPU {
    /// CPU ticks per process, for the processes whose command name (`/proc/<pid>/comm`) is one of
    /// `names`, or whose pid is in `pids`.
    static func snapshot(names: Set<String> = [], pids: Set<Int32> = []) -> [Int32: Int] {
        var result: [Int32: Int] = [:]
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = Int32(entry) else { continue }
            if !pids.contains(pid) {
                guard !names.isEmpty, let comm = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8),
                    names.contains(comm.trimmingCharacters(in: .whitespacesAndNewlines))
                else { continue }
            }
            if let ticks = ticks(pid) { result[pid] = ticks }
        }
        return result
    }

    /// Seconds of CPU the processes of `after` used since `before` (a process absent from
    /// `before` started in between and counts whole; one that exited in between is not seen).
    static func seconds(from before: [Int32: Int], to after: [Int32: Int]) -> Double {
        let ticks = after.reduce(0) { total, entry in total + max(0, entry.value - (before[entry.key] ?? 0)) }
        return Double(ticks) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// `utime + stime` of `pid`: fields 14 and 15 of `/proc/<pid>/stat`, counted after the
    /// command name, which is in parentheses and may itself hold spaces.
    private static func ticks(_ pid: Int32) -> Int? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state): utime is field 14, stime field 15.
        guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { return nil }
        return user + system
    }
}
