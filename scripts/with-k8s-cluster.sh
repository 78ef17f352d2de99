#!/usr/bin/env bash
# with-k8s-cluster.sh CMD...: runs CMD with the Kubernetes test cluster up.
# A cluster that already answers is used and left running (a developer's,
# or `make kube-up`'s); one this script starts is torn down after CMD,
# whatever CMD's outcome, so `make test` leaves the host as it found it.
# The binaries and images stay cached, so the next start is seconds.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
started=false
if ! bash "$here/k8s-cluster.sh" status >/dev/null 2>&1; then
	bash "$here/k8s-cluster.sh" up || exit $?
	started=true
fi
"$@"
rc=$?
if $started; then
	bash "$here/k8s-cluster.sh" down || echo "with-k8s-cluster: the cluster did not go down cleanly; scripts/k8s-cluster.sh down again" >&2
fi
exit "$rc"
