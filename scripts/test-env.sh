#!/usr/bin/env bash
# test-env.sh makes sure the real parts the tests need are up: a PostgreSQL
# server the tests can create databases in, a Docker engine that can run a
# container, a Chromium the web UI's browser tests can drive headless, and
# Debian's nginx for the reverse-proxy test (which starts nginx processes of its
# own on free ports, from deploy/nginx/fastflow.conf). On
# Debian as root it installs and starts what is missing; anywhere else it says
# what is missing and leaves the tests to skip (or, under CI=true, to fail). It
# is idempotent and returns quickly when everything already runs.
#
# Environment:
#   FASTFLOW_TEST_POSTGRES_URL  where the tests find PostgreSQL
#                               (default postgres://fastflow:fastflow@127.0.0.1:5432/postgres?sslmode=disable)
#   FASTFLOW_TEST_ENV_SKIP      space-separated parts to leave alone: "postgres", "docker", "chromium", "nginx",
#                               "prometheus"
#   FASTFLOW_DOCKERD_LOG        dockerd's log file (default /var/log/fastflow-dockerd.log)
set -euo pipefail

readonly default_pg_url='postgres://fastflow:fastflow@127.0.0.1:5432/postgres?sslmode=disable'
readonly pg_url="${FASTFLOW_TEST_POSTGRES_URL:-$default_pg_url}"
readonly pg_role=fastflow
readonly pg_password=fastflow
readonly pg_port=5432
readonly probe_image=fastflow-probe:local
readonly dockerd_log="${FASTFLOW_DOCKERD_LOG:-/var/log/fastflow-dockerd.log}"
# The flags that brought dockerd up last time, so a cold start on this machine
# goes straight to what works instead of retrying the fallbacks.
readonly state_dir=/var/lib/fastflow-test-env
readonly dockerd_flags_file="$state_dir/dockerd-flags"
readonly skip=" ${FASTFLOW_TEST_ENV_SKIP:-} "

say() { printf 'test-env: %s\n' "$*" >&2; }

can_provision=true
why_not=""
if [[ $(id -u) -ne 0 ]]; then
	can_provision=false
	why_not="not root"
elif [[ ! -r /etc/debian_version ]] || ! command -v apt-get >/dev/null 2>&1; then
	can_provision=false
	why_not="not Debian"
fi

apt_updated=false
apt_update() {
	if [[ $apt_updated == false ]]; then
		say "apt-get update"
		apt-get update -qq >/dev/null
		apt_updated=true
	fi
}

apt_install() {
	export DEBIAN_FRONTEND=noninteractive
	apt_update
	say "apt-get install $*"
	apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

missing() {
	say "MISSING: $1 ($why_not, so not installing it); tests that need it will skip, and fail under CI=true"
}

# ---------------------------------------------------------------- PostgreSQL

pg_ready() {
	PGCONNECT_TIMEOUT=3 psql "$pg_url" -XtAqc \
		"SELECT rolsuper FROM pg_roles WHERE rolname = current_user" 2>/dev/null | grep -qx t
}

# as_postgres runs psql as the cluster's superuser over the local socket, which
# needs no password whatever state an earlier run left the roles in.
as_postgres() {
	runuser -u postgres -- psql -X -p "$pg_port" -v ON_ERROR_STOP=1 -tAq "$@"
}

pg_version() {
	# The newest server installed; Debian keeps one directory per major version.
	find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null |
		sort -n | tail -n 1
}

ensure_postgres() {
	if pg_ready; then
		return 0
	fi
	if [[ $pg_url != "$default_pg_url" ]]; then
		say "MISSING: PostgreSQL at FASTFLOW_TEST_POSTGRES_URL does not answer as a superuser; leaving a custom URL alone"
		return 0
	fi
	if [[ $can_provision == false ]]; then
		missing "PostgreSQL superuser $pg_role at 127.0.0.1:$pg_port"
		return 0
	fi
	if ! command -v pg_lsclusters >/dev/null 2>&1 || [[ -z $(pg_version) ]]; then
		apt_install postgresql postgresql-client
	fi
	local ver
	ver=$(pg_version)
	# Columns: Ver Cluster Port Status Owner Data-directory Log-file.
	local cluster name status
	cluster=$(pg_lsclusters --no-header 2>/dev/null | awk -v p="$pg_port" '$3 == p {print $1 " " $2 " " $4; exit}')
	if [[ -z $cluster ]]; then
		if pg_lsclusters --no-header 2>/dev/null | awk -v v="$ver" '$1 == v && $2 == "main" {f=1} END {exit !f}'; then
			say "PostgreSQL $ver/main exists on another port; moving it to $pg_port"
			sed -i -E "s/^[#[:space:]]*port[[:space:]]*=.*/port = $pg_port/" "/etc/postgresql/$ver/main/postgresql.conf"
			pg_ctlcluster "$ver" main restart || true
		else
			say "creating PostgreSQL $ver cluster main on port $pg_port"
			pg_createcluster "$ver" main --port "$pg_port" >/dev/null
		fi
		cluster=$(pg_lsclusters --no-header | awk -v p="$pg_port" '$3 == p {print $1 " " $2 " " $4; exit}')
	fi
	read -r ver name status <<<"$cluster"
	if [[ $status != online* ]]; then
		say "starting PostgreSQL $ver/$name"
		pg_ctlcluster "$ver" "$name" start
	fi
	local i
	for ((i = 0; i < 60; i++)); do
		pg_isready -q -h 127.0.0.1 -p "$pg_port" && break
		sleep 0.5
	done
	if ! pg_isready -q -h 127.0.0.1 -p "$pg_port"; then
		say "ERROR: PostgreSQL $ver/$name does not accept connections on 127.0.0.1:$pg_port; see /var/log/postgresql/"
		return 1
	fi
	# CREATE or ALTER so a role left behind by an earlier run with another
	# password or fewer rights ends up the same as a fresh one.
	as_postgres -d postgres <<-SQL
		SELECT format('CREATE ROLE %I', '$pg_role')
		WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$pg_role') \gexec
		ALTER ROLE $pg_role WITH LOGIN SUPERUSER PASSWORD '$pg_password';
	SQL
	if ! pg_ready; then
		say "ERROR: PostgreSQL runs but $pg_url is refused; check pg_hba.conf of $ver/$name"
		return 1
	fi
	say "PostgreSQL $ver/$name ready at 127.0.0.1:$pg_port"
}

# -------------------------------------------------------------------- Docker

docker_up() { timeout 10 docker info >/dev/null 2>&1; }

readonly probe_stamp="$state_dir/probe-ok"

# daemon_identity names the local dockerd process (pid and start time), so a
# probe that passed once is not repeated against the same daemon; it prints
# nothing for a remote or unknown daemon, which is then always probed.
daemon_identity() {
	local pid
	pid=$(dockerd_pid)
	if [[ -n $pid && -z ${DOCKER_HOST:-} ]]; then
		printf '%s %s\n' "$pid" "$(cut -d' ' -f22 "/proc/$pid/stat" 2>/dev/null)"
	fi
}

probe_ok() {
	local id
	id=$(daemon_identity)
	if [[ -n $id && -r $probe_stamp && $(cat "$probe_stamp") == "$id" ]] &&
		docker image inspect "$probe_image" >/dev/null 2>&1; then
		return 0
	fi
	timeout 60 docker run --rm --network none "$probe_image" true >/dev/null 2>&1 || return 1
	if [[ -n $id ]]; then
		mkdir -p "$state_dir"
		printf '%s\n' "$id" >"$probe_stamp"
	fi
}

ensure_probe_image() {
	if docker image inspect "$probe_image" >/dev/null 2>&1; then
		return 0
	fi
	local busybox
	busybox=$(static_busybox) || return 1
	# No registry is reachable, so the probe image is a one-binary root
	# filesystem imported from a tarball.
	local root
	root=$(mktemp -d)
	mkdir -p "$root/bin"
	cp "$busybox" "$root/bin/busybox"
	local applet
	for applet in sh true false echo cat sleep; do
		ln -s busybox "$root/bin/$applet"
	done
	tar -C "$root" -c . | docker import -m 'fastflow test-env probe' - "$probe_image" >/dev/null
	rm -rf "$root"
	say "built $probe_image"
}

file_is_static() {
	[[ -x $1 ]] && ! LC_ALL=C ldd "$1" >/dev/null 2>&1
}

# static_busybox prints the path of a statically linked busybox. Debian's
# busybox-static conflicts with the busybox package, so rather than install it
# the binary is unpacked from its .deb and kept in the state directory.
static_busybox() {
	local cached=$state_dir/busybox
	if file_is_static "$cached"; then
		echo "$cached"
		return 0
	fi
	if file_is_static /bin/busybox; then
		echo /bin/busybox
		return 0
	fi
	if [[ $can_provision == false ]]; then
		say "MISSING: a static busybox to build $probe_image ($why_not)"
		return 1
	fi
	apt_update
	local tmp
	tmp=$(mktemp -d)
	say "apt-get download busybox-static"
	(cd "$tmp" && apt-get download -qq busybox-static >/dev/null 2>&1) || {
		say "ERROR: apt-get download busybox-static failed"
		rm -rf "$tmp"
		return 1
	}
	dpkg-deb -x "$tmp"/busybox-static_*.deb "$tmp/root"
	mkdir -p "$state_dir"
	install -m 0755 "$tmp/root/bin/busybox" "$cached"
	rm -rf "$tmp"
	echo "$cached"
}

# dockerd_pid prints the pid of a running dockerd, if any.
dockerd_pid() {
	local pid
	pid=$(cat /var/run/docker.pid 2>/dev/null || true)
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		echo "$pid"
	fi
}

stop_dockerd() {
	local pid=$1 i
	kill "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 40; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.5
	done
	say "dockerd $pid did not stop in 20 s; killing it"
	kill -9 "$pid" 2>/dev/null || true
	sleep 1
}

# start_dockerd starts dockerd with the given flags, detached from this shell
# so it outlives make, and waits for it to answer. It returns non-zero when
# dockerd dies or stays silent.
start_dockerd() {
	say "starting dockerd${*:+ $*} (log: $dockerd_log)"
	mkdir -p "$(dirname "$dockerd_log")"
	printf '\n==== %s dockerd %s\n' "$(date -u +%FT%TZ)" "$*" >>"$dockerd_log"
	setsid nohup dockerd "$@" </dev/null >>"$dockerd_log" 2>&1 &
	local pid=$! i
	for ((i = 0; i < 120; i++)); do
		if docker_up; then
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			say "dockerd exited; last lines of its log:"
			tail -n 5 "$dockerd_log" | sed 's/^/    /' >&2
			return 1
		fi
		sleep 0.5
	done
	say "dockerd did not answer within 60 s"
	stop_dockerd "$pid"
	return 1
}

ensure_docker() {
	if docker_up; then
		ensure_probe_image && probe_ok && return 0
		say "ERROR: Docker answers but cannot run $probe_image; see: docker run --rm --network none $probe_image true"
		return 1
	fi
	if [[ $can_provision == false ]]; then
		missing "a Docker engine (docker info fails)"
		return 0
	fi
	if ! command -v dockerd >/dev/null 2>&1; then
		apt_install docker.io
	fi
	# Another engine that is up but does not answer would hold the pid file and
	# the socket; only a dockerd recorded in its own pid file is stopped.
	local pid
	pid=$(dockerd_pid)
	if [[ -n $pid ]]; then
		say "dockerd $pid runs but does not answer; restarting it"
		stop_dockerd "$pid"
	fi
	# Each candidate is tried in turn: the defaults first, then the storage
	# driver that needs no kernel support, then without the iptables and the
	# bridge a sandbox may forbid. Tests run with --network none, which needs
	# neither.
	local -a candidates=(
		""
		"--storage-driver=vfs"
		"--storage-driver=vfs --iptables=false --ip6tables=false"
		"--storage-driver=vfs --iptables=false --ip6tables=false --bridge=none"
	)
	if [[ -s $dockerd_flags_file ]]; then
		candidates=("$(cat "$dockerd_flags_file")" "${candidates[@]}")
	fi
	local flags
	for flags in "${candidates[@]}"; do
		# shellcheck disable=SC2086 # the flags are meant to split
		if start_dockerd $flags; then
			if ensure_probe_image && probe_ok; then
				mkdir -p "$state_dir"
				printf '%s\n' "$flags" >"$dockerd_flags_file"
				say "Docker ready (dockerd ${flags:-with default flags}; $probe_image runs)"
				return 0
			fi
			say "dockerd answers but cannot run $probe_image with these flags"
		fi
		pid=$(dockerd_pid)
		if [[ -n $pid ]]; then
			stop_dockerd "$pid"
		fi
	done
	say "ERROR: no dockerd configuration could run a container; see $dockerd_log"
	return 1
}

# ------------------------------------------------------------------ Chromium

# chromium_bin prints the first browser the browser tests would find, in the
# order they look for one.
chromium_bin() {
	local name
	for name in chromium chromium-browser google-chrome; do
		if command -v "$name" >/dev/null 2>&1; then
			command -v "$name"
			return 0
		fi
	done
	return 1
}

ensure_chromium() {
	local bin
	if bin=$(chromium_bin); then
		# Screenshots need at least one font; a browser installed by hand
		# may lack one.
		if [[ $can_provision == true ]] && ! fc-list 2>/dev/null | grep -q .; then
			apt_install fonts-dejavu-core fontconfig
		fi
		return 0
	fi
	if [[ $can_provision == false ]]; then
		missing "Chromium (none of chromium, chromium-browser, google-chrome is on PATH)"
		return 0
	fi
	# Debian's chromium runs headless without a display server; the fonts
	# make the screenshots the browser tests save readable.
	apt_install chromium fonts-dejavu-core fontconfig
	if ! bin=$(chromium_bin); then
		say "ERROR: chromium was installed but is not on PATH"
		return 1
	fi
	if ! timeout 60 "$bin" --headless --no-sandbox --disable-gpu --dump-dom about:blank >/dev/null 2>&1; then
		say "ERROR: $bin does not start headless; try: $bin --headless --no-sandbox --dump-dom about:blank"
		return 1
	fi
	say "Chromium ready ($("$bin" --version 2>/dev/null || echo "$bin"))"
}

# --------------------------------------------------------------------- nginx

readonly nginx_bin=/usr/sbin/nginx
# Present when this script installed nginx: only then is Debian's nginx
# service ours to keep stopped. An nginx someone installed and runs on
# purpose is left alone.
readonly nginx_stamp="$state_dir/nginx-installed"

# stop_nginx_service stops the nginx service Debian's package starts after
# installing it (its default site listens on port 80, which nothing here
# needs and other things on the machine may want) and keeps it from starting
# at boot. The tests run nginx processes of their own, each with its own
# prefix, pid file and ports, so they need no service.
stop_nginx_service() {
	if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
		systemctl disable --now nginx >/dev/null 2>&1 || true
	else
		if [[ -x /etc/init.d/nginx ]]; then
			/etc/init.d/nginx stop >/dev/null 2>&1 || true
		fi
		if command -v update-rc.d >/dev/null 2>&1; then
			update-rc.d nginx disable >/dev/null 2>&1 || true
		fi
	fi
	# Without an init system the service's master may still run; it is the
	# one in Debian's pid file, never a test's (those keep theirs in their
	# own prefix).
	local pid
	pid=$(cat /run/nginx.pid 2>/dev/null || true)
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		"$nginx_bin" -s quit >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
	fi
}

ensure_nginx() {
	if [[ -x $nginx_bin ]]; then
		if [[ -e $nginx_stamp ]]; then
			stop_nginx_service
		fi
		return 0
	fi
	if [[ $can_provision == false ]]; then
		missing "nginx ($nginx_bin; Debian package nginx)"
		return 0
	fi
	# policy-rc.d exiting 101 tells the package's scripts not to start the
	# service at all (Docker's Debian images ship one; a host has none).
	local policy=/usr/sbin/policy-rc.d made_policy=false
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\n# test-env.sh: installing nginx, start no service\nexit 101\n' >"$policy"
		chmod 0755 "$policy"
		made_policy=true
	fi
	local ok=true
	apt_install nginx || ok=false
	if [[ $made_policy == true ]]; then
		rm -f "$policy"
	fi
	if [[ $ok == false || ! -x $nginx_bin ]]; then
		say "ERROR: apt-get install nginx did not give $nginx_bin"
		return 1
	fi
	mkdir -p "$state_dir"
	: >"$nginx_stamp"
	stop_nginx_service
	say "nginx ready ($("$nginx_bin" -v 2>&1); its service stopped, the tests start their own)"
}

readonly promtool_bin=/usr/bin/promtool
readonly prometheus_bin=/usr/bin/prometheus

# stop_prometheus_service stops the Prometheus service Debian's package
# starts after installing it (it listens on :9090 and scrapes itself) and
# keeps it from starting at boot. The tests start servers of their own on
# 127.0.0.1 with their own configuration and storage.
stop_prometheus_service() {
	if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
		systemctl disable --now prometheus >/dev/null 2>&1 || true
	else
		if [[ -x /etc/init.d/prometheus ]]; then
			/etc/init.d/prometheus stop >/dev/null 2>&1 || true
		fi
		if command -v update-rc.d >/dev/null 2>&1; then
			update-rc.d prometheus disable >/dev/null 2>&1 || true
		fi
	fi
}

# ensure_prometheus installs Debian's prometheus package for promtool
# (check metrics, test rules) and the server the scrape test starts.
ensure_prometheus() {
	if [[ -x $promtool_bin && -x $prometheus_bin ]]; then
		return 0
	fi
	if [[ $can_provision == false ]]; then
		missing "promtool and prometheus ($promtool_bin; Debian package prometheus)"
		return 0
	fi
	local policy=/usr/sbin/policy-rc.d made_policy=false
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\n# test-env.sh: installing prometheus, start no service\nexit 101\n' >"$policy"
		chmod 0755 "$policy"
		made_policy=true
	fi
	local ok=true
	apt_install prometheus || ok=false
	if [[ $made_policy == true ]]; then
		rm -f "$policy"
	fi
	if [[ $ok == false || ! -x $promtool_bin ]]; then
		say "ERROR: apt-get install prometheus did not give $promtool_bin"
		return 1
	fi
	stop_prometheus_service
	say "prometheus ready ($("$promtool_bin" --version 2>&1 | head -n 1); its service stopped, the tests start their own)"
}

# ---------------------------------------------------------------------- main

rc=0
if [[ $skip != *" postgres "* ]]; then
	ensure_postgres || rc=1
fi
if [[ $skip != *" docker "* ]]; then
	ensure_docker || rc=1
fi
if [[ $skip != *" chromium "* ]]; then
	ensure_chromium || rc=1
fi
if [[ $skip != *" nginx "* ]]; then
	ensure_nginx || rc=1
fi
if [[ $skip != *" prometheus "* ]]; then
	ensure_prometheus || rc=1
fi
exit "$rc"
