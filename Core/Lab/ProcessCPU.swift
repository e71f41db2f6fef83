import Foundation
import Glibc

/// CPU time of processes, read from `/proc/<pid>/stat` (user + system time, in clock ticks), for
/// the benchmarks' CPU per message or per process, and of single threads (`/proc/<pid>/task`) for
/// `commerce-lab bench`'s profile.
enum ProcessCPU {
    /// One thread of one process, as the profile names it.
    struct ThreadKey: Hashable {
        var pid: Int32
        var tid: Int32
        /// The thread's name (`/proc/<pid>/task/<tid>/comm`).
        var name: String
    }

    /// Clock ticks per second (`sysconf(_SC_CLK_TCK)`).
    static var ticksPerSecond: Double { Double(sysconf(Int32(_SC_CLK_TCK))) }

    /// Pids of the processes whose command line (`/proc/<pid>/cmdline`, arguments joined by
    /// spaces) contains `fragment`: an interpreter's program, such as SecantusDB under `python`.
    static func pids(commandLineContaining fragment: String) -> Set<Int32> {
        var result: Set<Int32> = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), let line = commandLine(pid), line.contains(fragment) else { continue }
            result.insert(pid)
        }
        return result
    }

    /// Pids of the processes whose command name (`/proc/<pid>/comm`) is one of `names`.
    static func pids(named names: Set<String>) -> Set<Int32> {
        Set(snapshot(names: names).keys)
    }

    /// The command line of `pid`, arguments joined by spaces; `nil` when it is gone.
    static func commandLine(_ pid: Int32) -> String? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else { return nil }
        return String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).trimmingCharacters(in: .whitespaces)
    }

    /// CPU ticks of every thread of the processes `pids`.
    static func threadSnapshot(pids: Set<Int32>) -> [ThreadKey: Int] {
        var result: [ThreadKey: Int] = [:]
        for pid in pids {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
            for entry in tasks {
                guard let tid = Int32(entry), let ticks = ticks(atPath: "/proc/\(pid)/task/\(tid)/stat") else {
                    continue
                }
                let name =
                    (try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/comm", encoding: .utf8))?
                    .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
                result[ThreadKey(pid: pid, tid: tid, name: name)] = ticks
            }
        }
        return result
    }

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
    private static func ticks(_ pid: Int32) -> Int? { ticks(atPath: "/proc/\(pid)/stat") }

    /// `utime + stime` from a `stat` file of a process or of one of its threads.
    private static func ticks(atPath path: String) -> Int? {
        guard let stat = try? String(contentsOfFile: path, encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state): utime is field 14, stime field 15.
        guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { return nil }
        return user + system
    }
}
