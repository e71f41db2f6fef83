/// The Payments service of the saga: see docs/saga.md.
public enum PaymentsService {}
