extension ValidationFailure {
    /// The violation that reports a domain rule broken after validation passed, while building
    /// the order or pricing it, in the contract's codes.
    ///
    /// Those rules are about the lines and their amounts, so a domain error that names no field
    /// is placed at `items`. An amount that does not fit is ``Code/amountOverflow``, whichever
    /// step found it (the validation's ``OrderValidationCheck/totalFits`` or pricing's
    /// ``DomainError/Code/overflow``), so an upstream team sees one code for one problem; every
    /// other domain error keeps its code's name (`conflicting_item`, `currency_mismatch` …).
    public init(_ error: DomainError) {
        let code = error.code == .overflow ? Code.amountOverflow : Code(error.code.name)
        self.init(code, field: error.field ?? "items", error.message)
    }
}
