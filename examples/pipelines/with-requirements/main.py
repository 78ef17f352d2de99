"""Shows that requirements.txt is installed before main.py runs."""
import six

print(f"six {six.__version__} is installed")
print("six.PY3 =", six.PY3)
for key, value in six.iteritems({"pipeline": "with-requirements", "status": "ok"}):
    print(f"{key}: {value}")
