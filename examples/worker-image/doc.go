// Package workerimage holds the recipe of fastflow-worker:local, the worker
// image Fast-Flow's tests and demo run pipelines in on a machine that reaches
// no registry and no PyPI, and the tests that check it against a real Docker
// engine. The recipe is the Debian package list (packages.txt), the stand-in
// uv (uv: a Python script that is NOT the real uv, for offline test images
// only) and the test wheel in testdata/wheels (made by make-test-wheel.py).
// scripts/worker-image.sh builds the image when it is missing or its recipe
// changed; see README.md. Production keeps WORKER_BASE_IMAGE, the real uv.
package workerimage
