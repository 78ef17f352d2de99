"""Reads its declared run parameters from the environment."""
import os

date = os.environ.get("DATE", "")
limit = int(os.environ.get("LIMIT", "10"))
ratio = float(os.environ.get("RATIO", "0.5"))
dry_run = os.environ.get("DRY_RUN", "false").lower() in ("1", "true", "yes")
mode = os.environ.get("MODE", "delta")

print(f"DATE={date!r} LIMIT={limit} RATIO={ratio} DRY_RUN={dry_run} MODE={mode}")
print(f"LOG_LEVEL={os.environ.get('LOG_LEVEL')}")
for i in range(min(limit, 3)):
    print(f"processing item {i + 1} of {limit} ({mode}{', dry run' if dry_run else ''})")
