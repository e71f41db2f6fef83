// notification-worker: under construction in this session (issue 8).
print("notification-worker is not built yet")
