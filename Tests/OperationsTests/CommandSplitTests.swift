import CommerceTestKit
import Testing

/// The operator tool and the lab are two executables: `commerce --help` lists only what an
/// operator does, `commerce-lab --help` the benchmarks, fault injection and the demo.
@Suite("commerce and commerce-lab")
struct CommandSplitTests {
    private static let labCommands = ["demo", "bench", "bench-runtime", "bench-payments", "bench-gateway", "chaos"]

    /// The subcommand names of a `--help` text: the first word of each entry under SUBCOMMANDS.
    private func subcommands(_ help: String) -> [String] {
        guard let start = help.range(of: "SUBCOMMANDS:") else { return [] }
        // The list ends at the first blank line (a "See 'help'" hint follows it).
        let lines = help[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false).dropFirst()
        return lines.prefix { !$0.isEmpty }.compactMap { line in
            // A name starts its line after two spaces; its abstract's continuation lines are indented further.
            guard line.hasPrefix("  "), !line.hasPrefix("   "), let word = line.split(separator: " ").first else {
                return nil
            }
            return String(word)
        }
    }

    @Test("commerce --help lists the operator's commands and none of the lab's")
    func operatorHelp() throws {
        let run = try runCommerce(["--help"])
        #expect(run.status == 0, "\(run.stderr)")
        let names = subcommands(run.stdout)
        for name in ["setup", "stock", "dlq", "status", "audit", "place-order", "cancel-order", "order"] {
            #expect(names.contains(name), "\(name) missing from \(names)")
        }
        for name in Self.labCommands { #expect(!names.contains(name), "\(name) listed by commerce") }
    }

    @Test("commerce-lab --help lists the benchmarks, chaos and the demo")
    func labHelp() throws {
        let run = try runCommerceLab(["--help"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(Set(subcommands(run.stdout)) == Set(Self.labCommands), "\(run.stdout)")
    }
}
