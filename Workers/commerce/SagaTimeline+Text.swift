import CommandLineSupport
import FleetOperations
import Foundation

/// The readable form of ``FleetOperations/SagaTimeline``, for `commerce order show`.
extension SagaTimeline {
    /// The readable form: one aligned row per step.
    func printText() {
        guard !steps.isEmpty else {
            print("Saga \(correlationId): no journaled message and no dead letter")
            return
        }
        print(
            "Saga \(correlationId): \(steps.count) step(s) over \(Self.duration(durationMs))"
                + " (times UTC, from each worker's clock)")
        switch traceIds.count {
        case 0: print("Trace: none (no message carried a traceparent)")
        case 1: print("Trace: \(traceIds[0])")
        default: print("Traces: \(traceIds.joined(separator: ", ")) (the first is the order's)")
        }
        var table = TextTable(
            ["#", "AT", "+MS", "ΔMS", "EVENT", "TYPE", "MESSAGE", "CAUSE", "WORKER COPY", "NOTE"],
            rightAligned: ["#", "+MS", "ΔMS"])
        for step in steps {
            let cause: String
            if let number = step.causedByStep {
                cause = "#\(number)"
            } else if step.event == "emitted" {
                cause = step.causationId == nil ? "periodic" : "?"
            } else {
                cause = step.causationId == nil ? "upstream" : "?"
            }
            table.append([
                "\(step.step)", Timestamp.timeOfDay(Self.date(step.at)), "\(step.elapsedMs)", "\(step.sincePreviousMs)",
                Self.eventLabel(step.event), step.type, String(step.messageId.prefix(8)), cause,
                step.source == "dlq" ? "\(step.app), \(step.queue)" : "\(step.worker)", note(step),
            ])
        }
        table.print(indent: "  ")
    }

    fileprivate func note(_ step: Step) -> String {
        var parts: [String] = []
        switch step.event {
        case "handled":
            if let attempt = step.attempt, attempt > 1 { parts.append("attempt \(attempt)") }
            if let handling = step.handlingMs { parts.append("\(handling) ms in worker") }
            if step.causedByStep == nil, let sender = step.sender { parts.append("from \(sender)") }
        case "retry_scheduled":
            parts.append("attempt \(step.attempt ?? 1) failed: \(step.errorClass ?? "?")/\(step.reason ?? "?")")
            if let delay = step.retryDelayMs { parts.append("retry in \(Self.duration(delay))") }
        case "dead_lettered":
            parts.append("\(step.errorClass ?? "?")/\(step.reason ?? "?")")
            parts.append(step.inDeadLetterQueue ? "in \(step.queue).dlq now" : "no longer in the DLQ")
        default:
            break
        }
        if let message = step.errorMessage, step.event != "handled" {
            parts.append("\"\(message.count > 60 ? message.prefix(59) + "…" : Substring(message))\"")
        }
        return parts.joined(separator: "; ")
    }

    fileprivate static func eventLabel(_ event: String) -> String {
        switch event {
        case "retry_scheduled": "retry"
        case "dead_lettered": "DEAD-LETTERED"
        default: event
        }
    }

    fileprivate static func date(_ iso: String) -> Date { DeadLetter.parseDate(iso) ?? Date() }

    /// `850 ms`, `2.41 s`, `3 min 5 s`.
    static func duration(_ milliseconds: Int) -> String {
        if milliseconds < 1000 { return "\(milliseconds) ms" }
        if milliseconds < 60_000 { return String(format: "%.2f s", Double(milliseconds) / 1000) }
        return "\(milliseconds / 60_000) min \((milliseconds % 60_000) / 1000) s"
    }
}
