/// Formats an amount in minor units the way a person reads it, without Foundation's
/// locale-dependent formatters (the text must not change with the host's locale).
///
/// - KRW: `₩123,000` (the won has no minor unit).
/// - A currency whose ISO 4217 minor unit is known: the code, then the amount with that many
///   decimals, `USD 12.34`, `JPY 1,200`, `KWD 1.500`.
/// - Any other code: the code and the integer as given, grouped, `XYZ 1,234`, because its minor
///   unit cannot be told and a guessed decimal point would misstate the amount.
public enum AmountFormatter {
    /// The text of `minorUnits` of the currency `code`.
    public static func format(_ minorUnits: Int, currency code: String) -> String {
        let sign = minorUnits < 0 ? "-" : ""
        let magnitude = minorUnits.magnitude
        if code == "KRW" { return "\(sign)₩\(grouped(magnitude))" }
        guard let digits = minorUnitDigits(code), digits > 0 else {
            return "\(code) \(sign)\(grouped(magnitude))"
        }
        var divisor: UInt = 1
        for _ in 0..<digits { divisor *= 10 }
        let fraction = String(magnitude % divisor)
        let padded = String(repeating: "0", count: digits - fraction.count) + fraction
        return "\(code) \(sign)\(grouped(magnitude / divisor)).\(padded)"
    }

    /// The number of decimals of the currency's minor unit (ISO 4217), or `nil` when this table
    /// does not know the code.
    public static func minorUnitDigits(_ code: String) -> Int? {
        if zeroDecimalCurrencies.contains(code) { return 0 }
        if threeDecimalCurrencies.contains(code) { return 3 }
        if twoDecimalCurrencies.contains(code) { return 2 }
        return nil
    }

    /// `1234567` → `1,234,567`.
    static func grouped(_ value: UInt) -> String {
        let digits = Array(String(value))
        var text = ""
        text.reserveCapacity(digits.count + digits.count / 3)
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { text.append(",") }
            text.append(digit)
        }
        return text
    }

    // ISO 4217 minor units of the currencies a shop is likely to meet; the rest fall back to the
    // bare integer rather than a guess.
    private static let zeroDecimalCurrencies: Set<String> = [
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF",
        "XOF", "XPF",
    ]
    private static let threeDecimalCurrencies: Set<String> = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"]
    private static let twoDecimalCurrencies: Set<String> = [
        "AED", "AUD", "BRL", "CAD", "CHF", "CNY", "CZK", "DKK", "EUR", "GBP", "HKD", "HUF", "IDR", "ILS", "INR",
        "MXN", "MYR", "NOK", "NZD", "PHP", "PLN", "RUB", "SAR", "SEK", "SGD", "THB", "TRY", "TWD", "USD", "ZAR",
    ]
}
