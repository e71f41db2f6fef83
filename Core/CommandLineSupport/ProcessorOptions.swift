import ArgumentParser
import FleetOperations
import Foundation
import Payments
import SagaAudit

/// Where the audit reads the card processor's books for invariant 6, the reconciliation
/// (`--payment-gateway`, `--payment-gateway-url`, `--payment-gateway-api-key`), shared by
/// `commerce audit` and `commerce-lab demo`; the defaults are the payment-worker's own variables
/// (`PAYMENT_GATEWAY`, `PAYMENT_HTTP_URL`, `PAYMENT_HTTP_API_KEY`), then the local gateway.
///
/// The books are read through the processor's charge listing (`GET /v1/charges`, every page),
/// as a payments team reads a real processor's, never from its database.
public struct ProcessorOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The fleet's card processor (env PAYMENT_GATEWAY): http (read its charges for the reconciliation) or "
                + "sandbox (in the payment-worker's memory: the reconciliation is not checked, and the report says so).",
            valueName: "kind"))
    public var paymentGateway: String?

    @Option(help: ArgumentHelp("The card processor's API (env PAYMENT_HTTP_URL).", valueName: "url"))
    public var paymentGatewayURL: String?

    @Option(
        help: ArgumentHelp(
            "The card processor's API key (env PAYMENT_HTTP_API_KEY; default: the local gateway's test key).",
            valueName: "key"))
    public var paymentGatewayAPIKey: String?

    public init() {}

    /// The local gateway's test-mode key, as `config/payment-gateway.json` and
    /// `config/payment-worker.json` hold it.
    public static let localAPIKey = "sk_test_commerce_local"

    public var resolvedKind: String { Setting.resolve(paymentGateway, variable: "PAYMENT_GATEWAY", default: "http") }
    public var resolvedURL: String {
        Setting.resolve(paymentGatewayURL, variable: "PAYMENT_HTTP_URL", default: "http://127.0.0.1:9180")
    }

    public func validate() throws {
        let kind = resolvedKind
        guard PaymentGatewayKind(rawValue: kind) != nil else {
            throw ValidationError("--payment-gateway must be http or sandbox, not '\(kind)'")
        }
        if kind == PaymentGatewayKind.http.rawValue {
            let url = resolvedURL
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                throw ValidationError("--payment-gateway-url must be an http:// or https:// URL, not '\(url)'")
            }
        }
    }

    /// The processor's books: every charge with its refunds, read now; or why they were not read.
    /// Never throws: a processor that cannot be read is ``SagaAudit/ProcessorBooks/unreadable(_:)``,
    /// which the audit reports as a violation of invariant 6.
    public func books() -> SagaAudit.ProcessorBooks {
        FleetAudit.processorBooks(
            gateway: resolvedKind == PaymentGatewayKind.http.rawValue ? .http : .sandbox, url: resolvedURL,
            apiKey: Setting.resolve(paymentGatewayAPIKey, variable: "PAYMENT_HTTP_API_KEY", default: Self.localAPIKey))
    }
}
