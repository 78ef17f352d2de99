"""The smallest pipeline: no metadata, no requirements."""
import platform
import sys

print("Hello from Fast-Flow!")
print(f"Python {platform.python_version()} on {platform.system()}")
print(f"Running {sys.argv[0]}")
