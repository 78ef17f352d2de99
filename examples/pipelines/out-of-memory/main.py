"""Allocates memory until the 64 MiB limit kills it (FAILED, error_type OOM)."""
chunks = []
mib = 0
while True:
    chunks.append(bytearray(8 * 1024 * 1024))
    mib += 8
    print(f"allocated {mib} MiB", flush=True)
