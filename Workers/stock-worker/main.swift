// stock-worker: under construction in this session (issue 8).
print("stock-worker is not built yet")
