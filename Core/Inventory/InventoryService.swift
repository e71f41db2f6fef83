/// The Inventory service of the saga: see docs/saga.md.
public enum InventoryService {}
