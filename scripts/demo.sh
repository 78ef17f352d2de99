#!/usr/bin/env bash
# demo.sh serves the example pipelines the way a team would run Fast-Flow:
# examples/pipelines is committed to a local git repository on branch main
# (.demo/pipelines-repo), and `fastflow serve` syncs from it. Re-running is
# safe: changed examples become a new commit, unchanged ones none. Run it
# through `make demo`, which builds bin/fastflow first.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd -P)
src=$root/examples/pipelines
demo=$root/.demo
repo=$demo/pipelines-repo
bin=$root/bin/fastflow

die() {
	printf 'demo: %s\n' "$*" >&2
	exit 1
}

[[ -d $src ]] || die "$src is missing"
[[ -x $bin ]] || die "$bin is missing; run: make build"
command -v git >/dev/null 2>&1 || die "git is not installed"

# An inline identity, so the demo works where git has never been configured,
# and no signing, so a user's signing setup cannot stop it.
git_() {
	git -C "$repo" -c user.name='Fast-Flow demo' -c user.email='demo@fastflow.invalid' \
		-c commit.gpgsign=false "$@"
}

if [[ ! -d $repo/.git ]]; then
	mkdir -p "$repo"
	git_ init -q
fi
# Works before the first commit too, unlike checkout.
git_ symbolic-ref HEAD refs/heads/main

# Mirror the examples: whatever was deleted there disappears here as well.
find "$repo" -mindepth 1 -maxdepth 1 ! -name .git -exec rm -rf {} +
cp -a "$src/." "$repo/"
git_ add -A
if ! git_ rev-parse -q --verify HEAD >/dev/null || ! git_ diff --cached --quiet; then
	git_ commit -q --allow-empty -m "Copy examples/pipelines ($(date -u +%FT%TZ))"
	echo "demo: committed the examples to $repo"
fi
count=$(cd "$repo" && find . -mindepth 2 -maxdepth 2 -name main.py -not -path './.*' | wc -l)

# Loopback by default: the demo admin's password is printed below.
listen=${LISTEN_ADDR:-127.0.0.1:8080}
host=${listen%:*}
port=${listen##*:}
case $host in
'' | 0.0.0.0 | '[::]') host=localhost ;;
esac
url=http://$host:$port

export GIT_REPO_URL=$repo
export GIT_BRANCH=main
export DATA_DIR=.demo/data
export LOGS_DIR=.demo/logs
export AUTO_SYNC_INTERVAL=30s
export LISTEN_ADDR=$listen
# The local worker image (make worker-image) stands in for the real uv image
# where no registry can be reached; its uv installs from bundled wheels.
export WORKER_BASE_IMAGE=${WORKER_BASE_IMAGE:-fastflow-worker:local}
export WORKER_NETWORK=${WORKER_NETWORK:-none}
export LOG_LEVEL=${LOG_LEVEL:-info}
# The first start creates this admin; later starts keep whatever password
# it has by then.
export ADMIN_USERNAME=${ADMIN_USERNAME:-admin}
export ADMIN_PASSWORD=${ADMIN_PASSWORD:-fastflow-demo}

"$bin" serve &
server=$!
trap 'kill -TERM "$server" 2>/dev/null; wait "$server" 2>/dev/null' EXIT INT TERM
for _ in $(seq 1 120); do
	curl -fsS "$url/readyz" >/dev/null 2>&1 && break
	kill -0 "$server" 2>/dev/null || die "fastflow serve exited; see its log above"
	sleep 0.5
done
curl -fsS "$url/readyz" >/dev/null 2>&1 || die "fastflow serve did not become ready at $url"

# Run every example once through the server, the way a user would from the
# CLI, so their outcomes (success, a traceback, an out-of-memory kill) show
# in the web UI's history as well as here.
FASTFLOW_URL=$url
FASTFLOW_TOKEN=$(LOG_LEVEL=warn "$bin" token create "demo-$(date -u +%s)" --user "$ADMIN_USERNAME")
export FASTFLOW_URL FASTFLOW_TOKEN
echo "demo: running each example pipeline once in $WORKER_BASE_IMAGE"
outcomes=()
for dir in "$repo"/*/; do
	name=$(basename "$dir")
	[[ -f $dir/main.py ]] || continue
	args=()
	[[ $name == parameters ]] && args=(--param DATE="$(date -u +%F)")
	echo "---- $name"
	set +e
	"$bin" run "$name" "${args[@]}" --follow
	code=$?
	set -e
	outcomes+=("$(printf '%-20s exit %s' "$name" "$code")")
done
echo "---- outcomes"
printf '  %s\n' "${outcomes[@]}"

cat <<MSG
demo: $count pipelines from examples/pipelines at $(git_ rev-parse --short HEAD), branch main
demo: GIT_REPO_URL=$GIT_REPO_URL
demo: DATA_DIR=$DATA_DIR LOGS_DIR=$LOGS_DIR AUTO_SYNC_INTERVAL=$AUTO_SYNC_INTERVAL
demo: open $url and log in as $ADMIN_USERNAME with password $ADMIN_PASSWORD
        (set ADMIN_PASSWORD before the first make demo to choose another)
demo: commit to $repo (or edit examples/pipelines and re-run make demo);
      the change is live within $AUTO_SYNC_INTERVAL. Stop with Ctrl-C.
MSG
wait "$server"
