import CommerceTestKit
import Foundation
import Testing

/// `commerce-lab chaos` end to end (docs/chaos.md): a small run with every fault, against the real
/// servers, which it restarts, so it runs alone with the other disruptive tests.
@Suite("Disruptive: commerce-lab chaos", .serialized)
struct ChaosDisruptiveTests {
    @Test(
        "every fault under a steady flow of orders, cancels racing slow charges while payment-workers die: nothing lost or doubled, only hostile dead letters, audit and reconciliation clean"
    )
    func fullRun() throws {
        let root = TestServers.repositoryRoot
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("chaos-\(UUID().uuidString)")
        let run = try runCommerceLabReaped([
            "chaos", "--orders", "600", "--rate", "20", "--copies", "2", "--seed", "7", "--json",
            "--bin-path", CommerceBinary.url("commerce").deletingLastPathComponent().path,
            "--config-directory", root.appendingPathComponent("config").path,
            "--services-script", root.appendingPathComponent("scripts/services.sh").path,
            "--output", output.path,
        ])
        let report = try run.requiredJSON()
        #expect(run.status == 0, "\(run.stderr.suffix(3_000))")
        #expect(report["placed"] as? Int == 600)
        #expect(report["terminal"] as? Int == 600)
        #expect((report["lost"] as? [Any])?.isEmpty == true)
        #expect((report["duplicated_effects"] as? [Any])?.isEmpty == true)
        #expect((report["unexpected_dead_letters"] as? [Any])?.isEmpty == true)
        #expect((report["missing_hostile_dead_letters"] as? [Any])?.isEmpty == true)
        #expect((report["unplanned_exits"] as? [Any])?.isEmpty == true)
        #expect(report["audit_clean"] as? Bool == true)
        let faults = (report["faults"] as? [[String: Any]]) ?? []
        #expect(faults.count == 17)
        #expect(
            faults.filter { ($0["name"] as? String)?.hasPrefix("freeze-") == true && $0["ok"] as? Bool == true }.count
                == 2, "\(faults)")
        #expect(faults.filter { $0["name"] as? String == "kill-payment-worker" }.count == 3)
        #expect((report["racing_cancels"] as? Int ?? 0) > 0, "seed 7 places orders whose cancel races a slow charge")
        #expect(
            report["racing_cancel_outcomes"] as? [String: Int] == ["CANCELLED": report["racing_cancels"] as? Int ?? -1],
            "\(report["racing_cancel_outcomes"] ?? "none")")
        #expect(
            (report["reconciliation"] as? String)?.hasPrefix("checked against") == true,
            "\(report["reconciliation"] ?? "none")")
        let charges = report["racing_cancel_charges"] as? [String: Int] ?? [:]
        #expect((charges["captured, refunded"] ?? 0) > 0, "some cancels came while their charge ran: \(charges)")
        #expect(charges["captured, kept"] == nil, "\(charges)")
        #expect(faults.allSatisfy { $0["ok"] as? Bool == true }, "\(faults)")
        #expect((report["hostile_dead_letters"] as? Int ?? 0) > 0)
        #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent("chaos.json").path))
    }
}

@Suite("commerce-lab chaos: arguments")
struct ChaosArgumentTests {
    @Test("bad arguments and servers off this machine exit 64 with a reason")
    func refusals() throws {
        for (arguments, says) in [
            (["chaos", "--orders", "0"], "--orders must be positive"),
            (["chaos", "--skip", "unplug-the-machine"], "unknown fault"),
            (["chaos", "--gateway", "paypal"], "--gateway must be"),
            (["chaos", "--amqp-url", "amqp://guest:guest@10.1.2.3:5672/%2F"], "loopback only"),
        ] {
            let run = try runCommerceLab(arguments)
            #expect(run.status == 64, "\(arguments): \(run.stderr)")
            #expect(run.stderr.contains(says), "\(arguments): \(run.stderr)")
        }
    }
}
