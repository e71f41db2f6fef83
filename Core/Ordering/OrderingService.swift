/// The Ordering service of the saga: see docs/saga.md.
public enum OrderingService {}
