#!/usr/bin/env python3
"""Builds the tiny pure-Python test wheel testdata/wheels/fastflow_testpkg-1.0.0-py3-none-any.whl.

Tests install it offline with the stand-in uv (UV_FIND_LINKS=/wheels) from a
requirements.txt of `fastflow-testpkg==1.0.0`. A wheel is a zip archive of the
package plus a .dist-info folder (METADATA, WHEEL, RECORD); only the standard
library is used, and the output is byte-for-byte reproducible (fixed
timestamps and order), so re-running it changes nothing unless this file does.

Usage: python3 make-test-wheel.py [OUTPUT_DIR]   (default: testdata/wheels beside this file)
"""

import base64
import hashlib
import os
import sys
import zipfile

NAME = "fastflow_testpkg"
DIST = "fastflow-testpkg"
VERSION = "1.0.0"

FILES = {
    f"{NAME}/__init__.py": f'''"""A tiny package for Fast-Flow's tests: installed offline from a local wheel."""

__version__ = "{VERSION}"


def greet(name):
    """Returns a greeting that shows the package was imported from its wheel."""
    return f"hello {{name}} from {NAME} {{__version__}}"
''',
    f"{NAME}-{VERSION}.dist-info/METADATA": f"""Metadata-Version: 2.1
Name: {DIST}
Version: {VERSION}
Summary: A tiny package for Fast-Flow's offline tests
License: MIT
Requires-Python: >=3.8
""",
    f"{NAME}-{VERSION}.dist-info/WHEEL": """Wheel-Version: 1.0
Generator: fastflow make-test-wheel.py
Root-Is-Purelib: true
Tag: py3-none-any
""",
    f"{NAME}-{VERSION}.dist-info/top_level.txt": f"{NAME}\n",
}


def record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}\n"


def build(outdir):
    os.makedirs(outdir, exist_ok=True)
    wheel = os.path.join(outdir, f"{NAME}-{VERSION}-py3-none-any.whl")
    record_path = f"{NAME}-{VERSION}.dist-info/RECORD"
    record = ""
    entries = []
    for path, text in FILES.items():
        data = text.encode()
        entries.append((path, data))
        record += record_line(path, data)
    record += f"{record_path},,\n"
    entries.append((record_path, record.encode()))
    tmp = wheel + ".tmp"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in entries:
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    os.replace(tmp, wheel)
    return wheel


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "testdata", "wheels")
    print(build(out))
