/// The Notifications service of the saga: see docs/saga.md.
public enum NotificationsService {}
