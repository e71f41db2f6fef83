import Foundation
import Postgres

/// What a benchmark report records about the machine and the build it ran on, and where the
/// fleet's executables are.
public enum BenchHost {
    /// The directory of the running executable (symbolic links resolved, so a tool linked into
    /// `PATH` still finds its build directory and the executables built beside it).
    public static func executableDirectory() -> URL {
        let executable =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            .map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        return executable.deletingLastPathComponent()
    }

    /// The 1, 5 and 15 minute load averages (`/proc/loadavg`); empty where it cannot be read.
    public static func loadAverage() -> [Double] {
        let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? ""
        return text.split(separator: " ").prefix(3).compactMap { Double($0) }
    }

    /// `debug` or `release`: figures of a debug build are not comparable with a release build's.
    #if DEBUG
        public static let buildConfiguration = "debug"
    #else
        public static let buildConfiguration = "release"
    #endif

    /// The PostgreSQL settings a saga benchmark's report records (`server_version`, `fsync`,
    /// `synchronous_commit`, `shared_buffers`), `?` for one that cannot be read.
    public static func postgresSettings(_ admin: PostgresConnection) -> [String: String] {
        var settings: [String: String] = [:]
        for setting in ["server_version", "fsync", "synchronous_commit", "shared_buffers"] {
            settings[setting] = (try? admin.query("show \(setting)").rows.first?.string(setting)) ?? "?"
        }
        return settings
    }
}
