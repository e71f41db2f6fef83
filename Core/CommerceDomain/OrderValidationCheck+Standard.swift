import Foundation

extension OrderValidationCheck {
    /// The standard chain, in order: ``size``, ``nonEmpty``, ``quantities``, ``prices``,
    /// ``currency``, ``customer``, ``address``, ``coupon``, ``totalFits``, ``chargeable``.
    public static let standard: [OrderValidationCheck] = [
        .size, .nonEmpty, .quantities, .prices, .currency, .customer, .address, .coupon, .totalFits, .chargeable,
    ]

    /// Sane sizes: at most `maximumLineCount` lines (too many stops the chain, so a huge order
    /// is not examined line by line) and no string longer than its limit (identifiers:
    /// `maximumIdentifierLength`; free text: `maximumTextLength`).
    public static let size = OrderValidationCheck(name: "size") { request, context in
        let limits = context.configuration
        if request.lines.count > limits.maximumLineCount {
            return Outcome(
                failures: [
                    ValidationFailure(
                        .tooManyLines, field: "items",
                        "\(request.lines.count) lines; at most \(limits.maximumLineCount) are allowed")
                ],
                stopsChain: true)
        }
        var failures: [ValidationFailure] = []
        func limit(_ value: String?, _ field: String, _ maximum: Int) {
            guard let value, value.count > maximum else { return }
            failures.append(
                ValidationFailure(.fieldTooLong, field: field, "\(value.count) characters; at most \(maximum)"))
        }
        let id = limits.maximumIdentifierLength
        let text = limits.maximumTextLength
        limit(request.orderID, "order_id", id)
        limit(request.customerID, "customer.id", id)
        limit(request.customerEmail, "customer.email", text)
        limit(request.membership, "customer.membership", id)
        limit(request.couponCode, "coupon_code", id)
        limit(request.shippingAddress.street, "shipping_address.street", text)
        limit(request.shippingAddress.city, "shipping_address.city", text)
        limit(request.shippingAddress.postalCode, "shipping_address.postal_code", id)
        limit(request.shippingAddress.detail, "shipping_address.detail", text)
        for (index, line) in request.lines.enumerated() {
            limit(line.productID, "items[\(index)].sku", id)
            limit(line.name, "items[\(index)].name", text)
        }
        return Outcome(failures: failures)
    }

    /// The order has at least one line.
    public static let nonEmpty = OrderValidationCheck(name: "non-empty") { request, _ in
        request.lines.isEmpty
            ? Outcome(failures: [ValidationFailure(.emptyOrder, field: "items", "the order has no items")])
            : .passed
    }

    /// Every quantity is in `1...maximumQuantity`, and every line names its product. Lines of one
    /// SKU become one line of the order (``Order/add(_:)`` merges them), so their sum is held to
    /// the same maximum: the failure names the line that takes the SKU over it.
    public static let quantities = OrderValidationCheck(name: "quantities") { request, context in
        var failures: [ValidationFailure] = []
        let maximum = context.configuration.maximumQuantity
        for (index, line) in request.lines.enumerated() {
            if line.productID.isEmpty {
                failures.append(ValidationFailure(.missingField, field: "items[\(index)].sku", "the SKU is empty"))
            }
            if line.quantity <= 0 {
                failures.append(
                    ValidationFailure(
                        .invalidQuantity, field: "items[\(index)].quantity",
                        "quantity must be > 0, got \(line.quantity)"))
            } else if line.quantity > maximum {
                failures.append(
                    ValidationFailure(
                        .quantityTooLarge, field: "items[\(index)].quantity",
                        "quantity \(line.quantity) is above the maximum of \(maximum)"))
            }
        }
        // Lines that failed above are left out, so each line is reported once.
        var unitsBySKU: [String: Int] = [:]
        for (index, line) in request.lines.enumerated() where line.quantity > 0 && line.quantity <= maximum {
            let earlier = unitsBySKU[line.productID] ?? 0
            guard earlier <= maximum else { continue }  // this SKU is already reported
            // Both terms are at most `maximum`; the sum can overflow only for a maximum near Int.max.
            let (units, overflow) = earlier.addingReportingOverflow(line.quantity)
            unitsBySKU[line.productID] = overflow ? Int.max : units
            if earlier > 0, overflow || units > maximum {
                failures.append(
                    ValidationFailure(
                        .quantityTooLarge, field: "items[\(index)].quantity",
                        "\(overflow ? "more than \(Int.max)" : "\(units)") units of SKU \(line.productID) over several "
                            + "lines; merged into one line, that is above the maximum of \(maximum)"))
            }
        }
        return Outcome(failures: failures)
    }

    /// Every unit price is `>= 0` (zero is allowed: free gifts).
    public static let prices = OrderValidationCheck(name: "prices") { request, _ in
        Outcome(
            failures: request.lines.enumerated().compactMap { index, line in
                line.unitPrice < 0
                    ? ValidationFailure(
                        .negativePrice, field: "items[\(index)].unit_price", "unit price \(line.unitPrice) is negative")
                    : nil
            })
    }

    /// The order's currency is well-formed and accepted, and every line is in it.
    public static let currency = OrderValidationCheck(name: "currency") { request, context in
        var failures: [ValidationFailure] = []
        if !Currency.isWellFormed(request.currency)
            || !context.configuration.acceptedCurrencies.contains(request.currency)
        {
            let accepted = context.configuration.acceptedCurrencies.sorted().joined(separator: ", ")
            failures.append(
                ValidationFailure(
                    .unsupportedCurrency, field: "currency",
                    "'\(request.currency)' is not accepted (accepted: \(accepted))"))
        }
        for (index, line) in request.lines.enumerated() where line.currency != request.currency {
            failures.append(
                ValidationFailure(
                    .currencyMismatch, field: "items[\(index)].unit_price",
                    "line is in \(line.currency), the order in \(request.currency)"))
        }
        return Outcome(failures: failures)
    }

    /// The order and customer ids are present and the email looks like `local@domain.tld`.
    public static let customer = OrderValidationCheck(name: "customer") { request, _ in
        var failures: [ValidationFailure] = []
        if request.orderID.isEmpty {
            failures.append(ValidationFailure(.missingField, field: "order_id", "the order id is empty"))
        }
        if request.customerID.isEmpty {
            failures.append(ValidationFailure(.missingField, field: "customer.id", "the customer id is empty"))
        }
        if !isPlausibleEmail(request.customerEmail) {
            failures.append(
                ValidationFailure(
                    .invalidEmail, field: "customer.email", "'\(request.customerEmail)' is not an email address"))
        }
        return Outcome(failures: failures)
    }

    /// Street, city, postal code and country are present, and the country is deliverable.
    public static let address = OrderValidationCheck(name: "address") { request, context in
        var failures: [ValidationFailure] = []
        let address = request.shippingAddress
        for (value, field) in [
            (address.street, "street"), (address.city, "city"), (address.postalCode, "postal_code"),
            (address.country, "country"),
        ] where value.trimmingCharacters(in: .whitespaces).isEmpty {
            failures.append(ValidationFailure(.missingField, field: "shipping_address.\(field)", "\(field) is empty"))
        }
        if !address.country.isEmpty, !context.configuration.deliverableCountries.contains(address.country) {
            failures.append(
                ValidationFailure(
                    .undeliverableAddress, field: "shipping_address.country",
                    "the platform does not deliver to '\(address.country)'"))
        }
        return Outcome(failures: failures)
    }

    /// The coupon code, when given, is in the catalog (case-insensitive).
    public static let coupon = OrderValidationCheck(name: "coupon") { request, context in
        guard let code = request.couponCode, !context.coupons.contains(code) else { return .passed }
        return Outcome(failures: [ValidationFailure(.unknownCoupon, field: "coupon_code", "unknown coupon '\(code)'")])
    }

    /// Σ quantity × unit price fits in `Int` minor units (lines that failed earlier checks are
    /// skipped, so this reports overflow only).
    public static let totalFits = OrderValidationCheck(name: "total") { request, _ in
        var total = 0
        for line in request.lines where line.quantity > 0 && line.unitPrice >= 0 {
            let (lineTotal, lineOverflow) = line.unitPrice.multipliedReportingOverflow(by: line.quantity)
            let (sum, sumOverflow) = total.addingReportingOverflow(lineTotal)
            guard !lineOverflow, !sumOverflow else {
                return Outcome(
                    failures: [ValidationFailure(.amountOverflow, field: "items", "the order total is too large")])
            }
            total = sum
        }
        return .passed
    }

    private static func isPlausibleEmail(_ email: String) -> Bool {
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !email.contains(where: \.isWhitespace) else { return false }
        let domainLabels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        return domainLabels.count >= 2 && domainLabels.allSatisfy { !$0.isEmpty }
    }
}
