#!/usr/bin/env python3
"""Turns Debian packages of pure-Python libraries into wheels for the stand-in uv.

No PyPI can be reached where the local worker image is built, but Debian
packages the same libraries: scripts/worker-image.sh downloads the packages
named in debian-wheels.txt inside the image's root filesystem and runs this
script there, which repacks the files each package installs under
/usr/lib/python3/dist-packages as a py3-none-any wheel (named and versioned
after the package's .egg-info/.dist-info) into /opt/fastflow/wheels. The
stand-in uv always searches that folder, so the example pipelines'
requirements (six==1.16.0) install offline. Only the standard library and
dpkg-deb are used.

Usage: debian-wheel.py OUTPUT_DIR PACKAGE.deb...
"""

import base64
import email.parser
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile

SITE = "usr/lib/python3/dist-packages"


def record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}\n"


def wheel_from_deb(deb, outdir):
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["dpkg-deb", "-x", deb, tmp], check=True)
        site = os.path.join(tmp, SITE)
        if not os.path.isdir(site):
            raise SystemExit(f"{deb}: nothing under /{SITE}")
        meta_dirs = [d for d in os.listdir(site) if re.match(r".+-[^-]+\.(egg|dist)-info$", d)]
        if len(meta_dirs) != 1:
            raise SystemExit(f"{deb}: want one .egg-info/.dist-info in /{SITE}, found {meta_dirs}")
        meta_dir = os.path.join(site, meta_dirs[0])
        pkg_info = "PKG-INFO" if meta_dirs[0].endswith(".egg-info") else "METADATA"
        if os.path.isdir(meta_dir):
            with open(os.path.join(meta_dir, pkg_info), encoding="utf-8") as f:
                metadata = f.read()
        else:  # a single-file .egg-info
            with open(meta_dir, encoding="utf-8") as f:
                metadata = f.read()
        headers = email.parser.Parser().parsestr(metadata, headersonly=True)
        name, version = headers["Name"], headers["Version"]
        dist = re.sub(r"[-_.]+", "_", name)
        info = f"{dist}-{version}.dist-info"
        entries = []
        for dirpath, dirnames, filenames in os.walk(site):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__"
                                 and os.path.join(dirpath, d) != meta_dir)
            for fn in sorted(filenames):
                full = os.path.join(dirpath, fn)
                if full == meta_dir or fn.endswith(".pyc"):
                    continue
                with open(full, "rb") as f:
                    entries.append((os.path.relpath(full, site), f.read()))
        entries.append((f"{info}/METADATA", metadata.encode()))
        entries.append((f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: fastflow debian-wheel.py\n"
                        b"Root-Is-Purelib: true\nTag: py3-none-any\n"))
        record = "".join(record_line(p, d) for p, d in entries) + f"{info}/RECORD,,\n"
        entries.append((f"{info}/RECORD", record.encode()))
        wheel = os.path.join(outdir, f"{dist}-{version}-py3-none-any.whl")
        with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
            for path, data in entries:
                zi = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
                zi.external_attr = 0o644 << 16
                zi.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(zi, data)
        return wheel


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    os.makedirs(sys.argv[1], exist_ok=True)
    for deb in sys.argv[2:]:
        print(wheel_from_deb(deb, sys.argv[1]))
