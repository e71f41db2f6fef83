import AMQP
import Chaos
import CommerceMessages
import FleetOperations
import Foundation
import Glibc
import LocalProcess
import Resilience
import Synchronization
import WorkerRuntime

/// A fault that could not be injected (a crash point that no batch reached): the run fails, as a
/// check that did not run proves nothing.
struct FaultNotReached: Error, CustomStringConvertible {
    var description: String
}

extension ChaosRun {
    /// What the fault thread did and saw.
    struct FaultOutcome {
        var records: [FaultRecord] = []
        /// Hostile messages the workers must dead-letter: message id → kind.
        var expectedDeadLetters: [String: String] = [:]
        /// Hostile messages without a message id, told apart by their queue and body instead:
        /// the worker queue's dead-letter queue and the body → kind.
        var expectedDeadLettersWithoutID: [UnidentifiedLetter: String] = [:]
        /// Members that end by design (the fault-injected crash copies).
        var expectedToExit: Set<String> = []
        /// Worker copies killed on purpose, by name.
        var plannedKills: [String] = []
        /// Members that died without being killed, and were started again.
        var unplannedExits: [String] = []
    }

    /// A dead letter without a message id, known by where it lies and what it carries.
    struct UnidentifiedLetter: Hashable {
        var deadLetterQueue: String
        var body: [UInt8]
    }

    /// The thread that owns the fleet during the run and injects the faults (see ``ChaosRun``).
    final class FaultThread: @unchecked Sendable {
        // @unchecked: everything below is touched by the fault thread only, until `join` has
        // waited for it (the semaphore orders the accesses).
        private let run: ChaosRun
        private let fleet: SagaFleet
        private let capture: String
        private let publishingTime: Double
        private var random: SplitMix64
        private var outcome = FaultOutcome()
        private var started = ContinuousClock.now
        private let done = DispatchSemaphore(value: 0)
        /// Members down on purpose right now (not to be reported as crashed).
        private var downOnPurpose: Set<String> = []
        /// Set by ``stop()`` (from the publishing thread, when the run fails): no more faults.
        private let stopRequested = Mutex(false)
        /// How long `freeze-postgresql` and `freeze-rabbitmq` keep the server stopped: longer
        /// than the deadlines the chaos fleet runs with (``SagaFleet``), so that they pass.
        static let freezeSeconds = 12

        init(run: ChaosRun, fleet: SagaFleet, capture: String, publishingTime: Double, seed: UInt64) {
            self.run = run
            self.fleet = fleet
            self.capture = capture
            self.publishingTime = publishingTime
            random = SplitMix64(seed: seed)
        }

        func start(at started: ContinuousClock.Instant) {
            self.started = started
            let thread = Thread { [self] in
                body()
                done.signal()
            }
            thread.name = "chaos-faults"
            thread.start()
        }

        /// Asks the thread to inject no more faults; ``join()`` then returns after the current one.
        func stop() { stopRequested.withLock { $0 = true } }

        private var stopping: Bool { stopRequested.withLock { $0 } }

        /// Waits for the thread to finish its faults and returns what it did.
        func join() -> FaultOutcome {
            done.wait()
            return outcome
        }

        private var elapsed: Double { (ContinuousClock.now - started).seconds }

        private func body() {
            let faults = ChaosRun.faultNames.filter { !run.settings.skip.contains($0) }
            for (index, fault) in faults.enumerated() {
                // Evenly spaced over the publishing time, the last one at 90 % of it.
                let at = publishingTime * 0.9 * Double(index + 1) / Double(faults.count)
                while elapsed < at && !stopping {
                    watch()
                    Thread.sleep(forTimeInterval: 0.2)
                }
                if stopping { return }
                let begun = elapsed
                var ok = true
                var detail: String
                do {
                    detail = try inject(fault)
                } catch let missed as FaultNotReached {
                    ok = false
                    detail = missed.description
                } catch {
                    ok = false
                    detail = "failed: \(error)"
                }
                let record = FaultRecord(
                    name: fault, detail: detail, at: begun.rounded(toPlaces: 1),
                    seconds: (elapsed - begun).rounded(toPlaces: 1), ok: ok)
                outcome.records.append(record)
                run.log(String(format: "  %6.1f s  %-20@ %@", begun, fault as NSString, detail as NSString))
                watch()
            }
        }

        /// Restarts a member found dead that nobody killed, and notes it.
        private func watch() {
            for exit in fleet.processes.exited
            where !downOnPurpose.contains(exit.name) && !outcome.expectedToExit.contains(exit.name) {
                outcome.unplannedExits.append("\(exit) at \(String(format: "%.1f", elapsed)) s")
                run.log("  \(exit): not killed by the run; starting it again")
                try? fleet.processes.restart(exit.name)
            }
        }

        // MARK: - The faults

        private func inject(_ fault: String) throws -> String {
            switch fault {
            case "kill-worker":
                let victim = randomWorker()
                kill(victim)
                Thread.sleep(forTimeInterval: 1)
                try restart(victim)
                return "SIGKILL \(victim), started again after 1 s"
            case "kill-payment-worker":
                let copies = fleet.workers.filter { $0.worker.name == FleetCatalog.paymentWorker.name }.map(\.name)
                let victim = copies[Int(random.next() % UInt64(copies.count))]
                kill(victim)
                Thread.sleep(forTimeInterval: 1)
                try restart(victim)
                return "SIGKILL \(victim) while slow charges and their racing cancels flow, started again after 1 s"
            case "hostile-messages":
                return try publishHostileMessages()
            case "restart-rabbitmq":
                return try services("restart", "rabbitmq")
            case "restart-postgresql":
                return try services("restart", "postgresql")
            case "restart-mongodb":
                return try services("restart", "mongodb")
            case "freeze-postgresql", "freeze-rabbitmq":
                // Every process of the server stopped (SIGSTOP), then continued: connections stay
                // open and the kernel still acknowledges TCP, so only the workers' deadlines notice.
                let server = fault == "freeze-postgresql" ? "postgresql" : "rabbitmq"
                return try services("freeze", server, "\(Self.freezeSeconds)")
                    + " (every process stopped, then continued)"
            case "memory-alarm":
                // Set back to what it was; 0.4 (RabbitMQ's default) if the broker does not say.
                let original = try? command(
                    "rabbitmqctl", ["-q", "eval", "vm_memory_monitor:get_vm_memory_high_watermark()."])
                let restore = original.flatMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0.4
                try retrying { _ = try command("rabbitmqctl", ["-q", "set_vm_memory_high_watermark", "0.0000001"]) }
                Thread.sleep(forTimeInterval: 5)
                try retrying { _ = try command("rabbitmqctl", ["-q", "set_vm_memory_high_watermark", "\(restore)"]) }
                return "memory alarm raised for 5 s (publishers blocked), then the watermark set back to \(restore)"
            case "restart-gateway":
                guard fleet.processes.process(SagaFleet.gatewayMember) != nil else {
                    return "skipped: no gateway process (sandbox)"
                }
                kill(SagaFleet.gatewayMember)
                Thread.sleep(forTimeInterval: 1)
                try restart(SagaFleet.gatewayMember)
                return "SIGKILL payment-gateway, started again after 1 s"
            case "crash-after-commit":
                return try crashCopy(
                    variable: "COMMERCE_FAULT_CRASH_AFTER_COMMIT_BATCH", moment: "after a commit, before its publish")
            case "crash-before-ack":
                return try crashCopy(
                    variable: "COMMERCE_FAULT_CRASH_BEFORE_ACK_BATCH",
                    moment: "after a confirmed publish, before its ack")
            case "replay-old-events":
                return try replayOldEvents()
            default:
                throw OperationFailure("unknown fault \(fault)")
            }
        }

        /// Runs `body` up to 5 times, a second apart, until it does not throw.
        private func retrying(_ body: () throws -> Void) throws {
            for attempt in 1...5 {
                do {
                    try body()
                    return
                } catch {
                    if attempt == 5 { throw error }
                    Thread.sleep(forTimeInterval: 1)
                }
            }
        }

        private func randomWorker() -> String {
            let names = fleet.workers.map(\.name)
            return names[Int(random.next() % UInt64(names.count))]
        }

        private func kill(_ name: String) {
            downOnPurpose.insert(name)
            outcome.plannedKills.append(name)
            fleet.processes.kill(name)
        }

        private func restart(_ name: String) throws {
            defer { downOnPurpose.remove(name) }
            try fleet.processes.restart(name)
        }

        /// Replaces a worker copy by one that kills itself at the crash point, waits for it to do
        /// so, then starts the copy again as it was.
        private func crashCopy(variable: String, moment: String) throws -> String {
            // The order- and stock-workers see every order: their copies reach a crash point soonest.
            let candidates = fleet.workers.filter {
                [FleetCatalog.orderWorker.name, FleetCatalog.stockWorker.name].contains($0.worker.name)
            }
            let victim = candidates[Int(random.next() % UInt64(candidates.count))].name
            guard let member = fleet.processes.memberList.first(where: { $0.name == victim }) else {
                throw OperationFailure("no member \(victim)")
            }
            kill(victim)
            let doomed = "\(victim)~crash-\(outcome.records.count)"
            outcome.expectedToExit.insert(doomed)
            try fleet.processes.start(
                LocalFleet.Member(
                    name: doomed, executable: member.executable,
                    environment: member.environment.merging([variable: "2"]) { $1 },
                    healthPort: member.healthPort))
            let deadline = ContinuousClock.now + .seconds(30)
            var crashed = false
            while ContinuousClock.now < deadline {
                if fleet.processes.process(doomed)?.isRunning == false {
                    crashed = true
                    break
                }
                Thread.sleep(forTimeInterval: 0.1)
            }
            if !crashed { fleet.processes.kill(doomed) }
            try restart(victim)
            guard crashed else {
                throw FaultNotReached(
                    description: "\(victim) did not reach its crash point in 30 s (no orders left to handle?); "
                        + "killed, started again: the crash was not injected")
            }
            return "\(victim) killed itself \(moment) (its 2nd batch), started again"
        }

        private func publishHostileMessages() throws -> String {
            let queues = FleetCatalog.workers.map { fleet.queue(of: $0) }
            let corpus = HostileMessages.corpus(
                queues: queues, orderQueue: fleet.queue(of: FleetCatalog.orderWorker), maximumBodySize: 256 * 1024)
            for message in corpus where message.expectDeadLetter {
                if let id = message.properties.messageID {
                    outcome.expectedDeadLetters[id] = "\(message.name) → \(message.queue)"
                } else {
                    let topology = fleet.topologies.first { $0.queue == message.queue }
                    let letter = UnidentifiedLetter(
                        deadLetterQueue: topology?.deadLetterQueue ?? "\(message.queue).dlq", body: message.body)
                    outcome.expectedDeadLettersWithoutID[letter] = "\(message.name) → \(message.queue)"
                }
            }
            let publisher = ChaosPublisher(configuration: run.settings.amqp)
            try publisher.publish(
                corpus.map { .init(exchange: "", routingKey: $0.queue, properties: $0.properties, body: $0.body) },
                deadline: .now + .seconds(60))
            let withoutID = corpus.filter { $0.properties.messageID == nil }.count
            return
                "\(corpus.count) hostile messages to \(queues.count) worker queues (\(withoutID) without a message id)"
        }

        /// Takes up to 100 events that passed earlier and publishes half again as they were (same
        /// message id: duplicates) and half under new message ids (old events arriving late), in
        /// a shuffled order.
        private func replayOldEvents() throws -> String {
            var configuration = run.settings.amqp
            configuration.connectionName = "commerce-lab chaos replay"
            let connection = try AMQPConnection(configuration: configuration)
            defer { connection.close() }
            let channel = try connection.openChannel()
            var events: [AMQPDelivery] = []
            while events.count < 100, let delivery = try connection.get(channel: channel, queue: capture, autoAck: true)
            {
                events.append(delivery)
            }
            var messages: [ChaosPublisher.Message] = []
            for (index, event) in events.enumerated() {
                var properties = event.properties
                if index % 2 == 1 { properties.messageID = Envelope.newMessageID() }
                messages.append(
                    .init(
                        exchange: fleet.exchange, routingKey: properties.type ?? "", properties: properties,
                        body: event.body))
            }
            messages.shuffle(using: &random)
            try ChaosPublisher(configuration: run.settings.amqp).publish(messages, deadline: .now + .seconds(60))
            return "\(messages.count) old events published again, shuffled: \(messages.count - messages.count / 2) "
                + "with their message id, \(messages.count / 2) under a new one"
        }

        private func services(_ arguments: String...) throws -> String {
            _ = try command("/bin/bash", [run.settings.servicesScript.path] + arguments)
            return "scripts/services.sh \(arguments.joined(separator: " "))"
        }

        /// Runs a command to its end; throws with its output when it fails.
        ///
        /// Spawned and reaped here (`posix_spawn`, `waitpid`), its output in a file: a server the
        /// command starts (PostgreSQL, SecantusDB) inherits the output and would hold a pipe open
        /// for ever, and Foundation's `Process` was seen never to notice such a script's exit.
        private func command(_ executable: String, _ arguments: [String]) throws -> String {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("chaos-\(UUID().uuidString).out")
            defer { try? FileManager.default.removeItem(at: file) }
            let argv = (executable.hasPrefix("/") ? [executable] : ["/usr/bin/env", executable]) + arguments
            let status = try spawnAndWait(argv, standardOutput: file.path)
            let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
            guard status == 0 else {
                throw OperationFailure("\(argv.joined(separator: " ")) exited \(status): \(text.suffix(500))")
            }
            return text
        }
    }
}
