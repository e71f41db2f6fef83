import CommerceTestKit
import Foundation
import Testing

/// `commerce --generate-completion-script`: swift-argument-parser's completion scripts, which
/// docs/operations.md ("Shell completion") tells operators to install with `scripts/install-completion.sh`.
@Suite("commerce shell completion")
struct CompletionScriptTests {
    @Test(
        "bash, zsh and fish scripts name the subcommands, down to order show and dlq replay --edit",
        arguments: ["bash", "zsh", "fish"])
    func script(shell: String) throws {
        let run = try runCommerce(["--generate-completion-script", shell])
        #expect(run.status == 0, "\(run.stderr)")
        for word in ["commerce", "order", "show", "list", "dlq", "replay", "edit", "state"] {
            #expect(run.stdout.contains(word), "\(shell) script without '\(word)'")
        }
    }

    @Test("the install script writes the bash completion where bash-completion finds it")
    func install() throws {
        let root = TestServers.repositoryRoot
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("completion-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: home) }
        let process = Process()
        process.executableURL = root.appendingPathComponent("scripts/install-completion.sh")
        process.arguments = ["bash"]
        process.environment = ProcessInfo.processInfo.environment.merging([
            "HOME": home.path, "XDG_DATA_HOME": home.appendingPathComponent(".local/share").path,
            "COMMERCE": CommerceBinary.url("commerce").path,
        ]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let installed = home.appendingPathComponent(".local/share/bash-completion/completions/commerce")
        let script = try String(contentsOf: installed, encoding: .utf8)
        #expect(script.contains("_commerce"), "\(script.prefix(200))")
    }
}
