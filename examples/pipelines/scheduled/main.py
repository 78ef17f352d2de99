"""Runs every five minutes and prints when it fired."""
from datetime import datetime, timezone

now = datetime.now(timezone.utc)
print(f"Scheduled run at {now.isoformat(timespec='seconds')}")
print("Nothing else to do; see you in five minutes.")
