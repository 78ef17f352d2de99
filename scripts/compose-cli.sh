#!/usr/bin/env bash
# compose-cli.sh installs the real Docker Compose CLI, the `docker compose` a
# user runs docker-compose.yaml with, as the Docker CLI plugin
# /usr/local/lib/docker/cli-plugins/docker-compose, so the tests drive the
# compose file with the very tool the README tells users to run.
#
# No container registry and no release download can be reached here or on CI,
# but the Go module proxy can, and it serves github.com/docker/compose/v5. So
# the script builds the pinned version's main package (.../cmd) with this
# machine's Go: in a throw-away module (`go install module/cmd@version` refuses
# compose, whose go.mod has exclude directives; the throw-away module copies
# them, and any replace directives, so the build list is upstream's), with
# CGO_ENABLED=0, -trimpath and the version stamped in through -ldflags as
# upstream's Makefile does. The binary is cached outside the repository keyed
# by version, so only the first run pays for the build (about two minutes on
# 2 cores, Go modules downloaded into the throw-away directory and removed
# with it) and a warm run only asks `docker compose version`.
#
# Compose v5 talks to Debian bookworm's dockerd 20.10 (API 1.41): its client
# negotiates down to API 1.40, so neither DOCKER_API_VERSION, an older Compose
# v2 nor Debian's python docker-compose 1.29 is needed. With that daemon a
# healthcheck's start_interval (API 1.44) is silently dropped, and `build:`
# uses the classic builder (no buildx plugin here: no BuildKit-only Dockerfile
# syntax).
#
# Nothing else on the system is changed: no docker config, no Go caches left.
#
# Usage: scripts/compose-cli.sh [--check] [--force]
#   --check   only report: exit 0 when `docker compose version` prints the
#             pinned version, 1 otherwise
#   --force   build again even when the cached binary is there
#
# Environment:
#   FASTFLOW_TOOLS_CACHE         build cache (default /var/cache/fastflow/tools);
#                                the binary is compose-<version>/docker-compose
#   FASTFLOW_COMPOSE_PLUGIN_DIR  where the plugin goes
#                                (default /usr/local/lib/docker/cli-plugins)
set -euo pipefail

# The pinned Compose release. v5.7.x needs a newer Go than this machine's 1.26.
readonly compose_version=v5.6.0
readonly module=github.com/docker/compose/${compose_version%%.*}
readonly script=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/$(basename "${BASH_SOURCE[0]}")
readonly cache_root=${FASTFLOW_TOOLS_CACHE:-/var/cache/fastflow/tools}
readonly cache_dir=$cache_root/compose-$compose_version
readonly cached_bin=$cache_dir/docker-compose
readonly plugin_dir=${FASTFLOW_COMPOSE_PLUGIN_DIR:-/usr/local/lib/docker/cli-plugins}
readonly plugin=$plugin_dir/docker-compose
readonly want=${compose_version#v}

check=false
force=false
for arg in "$@"; do
	case $arg in
	--check) check=true ;;
	--force) force=true ;;
	-h | --help)
		sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$script"
		exit 0
		;;
	*)
		printf 'compose-cli: unknown argument %q (see --help)\n' "$arg" >&2
		exit 2
		;;
	esac
done

say() { printf 'compose-cli: %s\n' "$*" >&2; }
die() {
	say "ERROR: $*"
	exit 1
}

now_ms() { date +%s%3N; }
secs() { # secs START_MS prints the seconds since START_MS, e.g. 1.234
	local d=$(($(now_ms) - $1))
	printf '%d.%03d' $((d / 1000)) $((d % 1000))
}
readonly t_start=$(now_ms)

have_docker() { command -v docker >/dev/null 2>&1; }
# cli_version prints what `docker compose version --short` says (nothing when
# there is no docker CLI or no compose plugin).
cli_version() {
	have_docker || return 0
	docker compose version --short 2>/dev/null || true
}
# bin_version FILE prints the version the compose binary FILE reports.
bin_version() {
	[[ -x $1 ]] || return 0
	"$1" version --short 2>/dev/null || true
}

# ------------------------------------------------------------- fast path

if [[ $force == false && $(cli_version) == "$want" ]]; then
	say "docker compose $compose_version is installed ($(secs "$t_start") s)"
	exit 0
fi

if [[ $check == true ]]; then
	if ! have_docker; then
		say "no docker CLI on PATH (scripts/test-env.sh installs Debian's docker.io)"
	elif [[ -n $(cli_version) ]]; then
		say "docker compose is $(cli_version), not $compose_version"
	else
		say "docker compose is not installed"
	fi
	if [[ $(bin_version "$cached_bin") == "$want" ]]; then
		say "the $compose_version build is cached in $cache_dir; run ${script##*/} to install it"
	else
		say "no cached $compose_version build; ${script##*/} builds it (about two minutes)"
	fi
	exit 1
fi

# ------------------------------------------------------------- locked part

mkdir -p "$cache_root" 2>/dev/null || die "cannot create $cache_root (not root? set FASTFLOW_TOOLS_CACHE)"
exec 9>"$cache_root/compose-cli.lock"
if ! flock -n 9; then
	say "waiting for another compose-cli.sh to finish"
	flock 9
fi
# The other caller may have installed it meanwhile.
if [[ $force == false && $(cli_version) == "$want" ]]; then
	say "docker compose $compose_version is installed ($(secs "$t_start") s)"
	exit 0
fi

build() {
	command -v go >/dev/null 2>&1 || die "no go on PATH: Go builds Compose"
	local tmp t0 gomod local_replace
	tmp=$(mktemp -d "$cache_root/.compose-build.XXXXXX")
	# shellcheck disable=SC2064 # expand tmp now
	trap "rm -rf '$tmp'" EXIT
	t0=$(now_ms)
	say "building Compose $compose_version from $module with $(go env GOVERSION) (a cold build takes about two minutes)"
	(
		cd "$tmp"
		# Everything the build downloads or caches stays in $tmp; never fetch
		# another toolchain: the pinned version must build with this Go.
		export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS='-trimpath -modcacherw' \
			GOMODCACHE=$tmp/gomod GOCACHE=$tmp/gocache GOWORK=off
		mkdir src
		cd src
		go mod init fastflow-compose-cli >/dev/null 2>&1
		# -json reports a failure in its output, not on stderr.
		go mod download -json "$module@$compose_version" >"$tmp/download.json" ||
			die "cannot download $module@$compose_version: $(grep '"Error"' "$tmp/download.json")"
		gomod=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' "$tmp/download.json")
		[[ -r $gomod ]] || die "go mod download $module@$compose_version named no go.mod"
		# Upstream's exclude and replace directives, single-line or blocks.
		awk '/^(exclude|replace)[ \t]*\(/ { blk = 1 }
			blk || /^(exclude|replace)[ \t]/ { print }
			blk && /^\)/ { blk = 0 }' "$gomod" >>go.mod
		local_replace=$(go mod edit -json | sed -n '/"New": {/{n;s/^[[:space:]]*"Path": "\([./][^"]*\)".*/\1/p}')
		[[ -z $local_replace ]] || die "$module@$compose_version replaces modules with local paths ($local_replace): cannot build it outside its repository"
		go get "$module/cmd@$compose_version" 2>"$tmp/get.log" || {
			cat "$tmp/get.log" >&2
			die "go get $module/cmd@$compose_version failed (a newer Go needed? this is $(go env GOVERSION))"
		}
		say "modules downloaded ($(secs "$t0") s)"
		local ldflags="-s -w" internal
		internal=$(go list -f '{{.Dir}}' "$module/internal")
		if grep -qs '^var Version = ' "$internal"/*.go; then
			ldflags+=" -X $module/internal.Version=$compose_version"
		else
			say "no $module/internal.Version to stamp: compose will report its own version"
		fi
		go build -ldflags "$ldflags" -o "$tmp/docker-compose" "$module/cmd"
	)
	local got
	got=$(bin_version "$tmp/docker-compose")
	[[ $got == "$want" ]] || die "the build reports version '${got}', not $want"
	mkdir -p "$cache_dir"
	mv -f "$tmp/docker-compose" "$cached_bin.new"
	mv -f "$cached_bin.new" "$cached_bin"
	rm -rf "$tmp"
	trap - EXIT
	say "built Compose $compose_version in $(secs "$t0") s into $cached_bin"
}

if [[ $force == true || $(bin_version "$cached_bin") != "$want" ]]; then
	build
else
	say "using the cached build $cached_bin"
fi

if ! cmp -s "$cached_bin" "$plugin"; then
	mkdir -p "$plugin_dir" 2>/dev/null || die "cannot create $plugin_dir (not root? set FASTFLOW_COMPOSE_PLUGIN_DIR=\$HOME/.docker/cli-plugins)"
	cp "$cached_bin" "$plugin_dir/.docker-compose.$$"
	chmod 0755 "$plugin_dir/.docker-compose.$$"
	mv -f "$plugin_dir/.docker-compose.$$" "$plugin"
	say "installed $plugin"
fi

if ! have_docker; then
	say "WARNING: no docker CLI on PATH, so \`docker compose\` cannot run yet (scripts/test-env.sh installs Debian's docker.io)"
	exit 0
fi
got=$(cli_version)
if [[ $got != "$want" ]]; then
	others=$(ls -1 "${HOME:-/root}/.docker/cli-plugins/docker-compose" /usr/local/lib/docker/cli-plugins/docker-compose \
		/usr/local/libexec/docker/cli-plugins/docker-compose /usr/lib/docker/cli-plugins/docker-compose \
		/usr/libexec/docker/cli-plugins/docker-compose 2>/dev/null | grep -vxF "$plugin" | paste -sd ' ' || true)
	die "docker compose reports '${got:-nothing}' after installing $plugin${others:+; another plugin may come first: $others}"
fi
say "docker compose $compose_version is installed ($(secs "$t_start") s)"
