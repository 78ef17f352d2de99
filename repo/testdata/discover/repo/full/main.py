import os
print("full", os.environ.get("MODE"))
