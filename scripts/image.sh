#!/usr/bin/env bash
# image.sh builds Fast-Flow's own image (fastflow:local) from the Dockerfile,
# on base images it makes itself, plus the PostgreSQL image the compose
# file's postgres profile runs in the tests. No registry is reached: this
# machine has none, so the Dockerfile's default bases (golang, alpine) and the
# official postgres image cannot be pulled. Instead one Debian root filesystem
# of this machine's release is bootstrapped from its apt sources
# (scripts/apt-sources.sh) and cached, and three images are imported from it:
#
#   fastflow-go:local        the root filesystem plus this machine's Go
#                            toolchain (GOROOT), the Dockerfile's GO_IMAGE
#   fastflow-static:local    the machine's CA certificates, /etc/passwd and /tmp, the
#                            Dockerfile's RUNTIME_IMAGE (a few hundred KB)
#   fastflow-postgres:local  Debian's postgresql with an entrypoint that reads
#                            POSTGRES_USER/PASSWORD/DB as the official image does
#
# Each is rebuilt only when its label (a hash of what went into it) differs.
# fastflow:local itself is built with `docker build`, whose layer cache skips
# the module download while go.mod is unchanged.
#
# Usage: scripts/image.sh [--bases] [--force]
#   --bases   build the base images only
#   --force   rebuild the base images (the cached root filesystem is reused)
#
# Environment:
#   FASTFLOW_IMAGE        the image to build (default fastflow:local)
#   FASTFLOW_BASE_CACHE   root filesystem cache (default /var/cache/fastflow/base-images)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd -P)
readonly image=${FASTFLOW_IMAGE:-fastflow:local}
readonly cache_dir=${FASTFLOW_BASE_CACHE:-/var/cache/fastflow/base-images}
readonly go_image=fastflow-go:local
readonly static_image=fastflow-static:local
readonly postgres_image=fastflow-postgres:local
# Bump when the bootstrap below changes.
readonly base_version=1
readonly packages=(ca-certificates postgresql)

bases_only=false
force=false
for arg in "$@"; do
	case $arg in
	--bases) bases_only=true ;;
	--force) force=true ;;
	-h | --help)
		sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"
		exit 0
		;;
	*)
		printf 'image: unknown argument %q (see --help)\n' "$arg" >&2
		exit 2
		;;
	esac
done

say() { printf 'image: %s\n' "$*" >&2; }
die() {
	say "ERROR: $*"
	exit 1
}
now_ms() { date +%s%3N; }
secs() {
	local d=$(($(now_ms) - $1))
	printf '%d.%03d' $((d / 1000)) $((d % 1000))
}
readonly t_start=$(now_ms)

command -v docker >/dev/null 2>&1 || die "the docker CLI is not installed (run scripts/test-env.sh as root)"
timeout 20 docker info >/dev/null 2>&1 || die "no Docker engine answers (run scripts/test-env.sh as root)"
codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
[[ -n $codename ]] || die "no VERSION_CODENAME in /etc/os-release (not Debian?)"
arch=$(dpkg --print-architecture)
goroot=$(go env GOROOT)
gover=$(go env GOVERSION)

label_of() { docker image inspect -f '{{ index .Config.Labels "fastflow.base" }}' "$1" 2>/dev/null || true; }

key() { { printf '%s\n' "$@"; } | sha256sum | cut -c1-16; }
rootfs_key=$(key "version=$base_version" "release=$codename" "arch=$arch" "${packages[@]}" \
	"$(sha256sum <"$root/scripts/apt-sources.sh")")
entrypoint=$root/scripts/postgres-entrypoint.sh
certs_sum=$(sha256sum </etc/ssl/certs/ca-certificates.crt)
# Not this script's hash: editing the image build below must not rebuild
# the bases (and with them every cached layer). Bump base_version instead.
go_key=$(key "$rootfs_key" "$gover" "$certs_sum")
static_key=$(key "$rootfs_key" "$certs_sum")
postgres_key=$(key "$rootfs_key" "$(sha256sum <"$entrypoint")")

# stale IMAGE KEY: whether IMAGE must be (re)built. Each base is rebuilt on
# its own, so a new PostgreSQL entrypoint does not invalidate the Go
# builder and with it every cached layer of fastflow:local.
stale() { [[ $force == true || $(label_of "$1") != "$2" ]]; }
need_bases=false
if stale $go_image "$go_key" || stale $static_image "$static_key" || stale $postgres_image "$postgres_key"; then
	need_bases=true
fi

if [[ $need_bases == true ]]; then
	[[ $(id -u) -eq 0 ]] || die "bootstrapping the base images needs root (mmdebstrap); run: sudo $0"
	mkdir -p "$cache_dir"
	exec 9>"$cache_dir/.lock"
	flock 9
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/fastflow-image.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	rootfs_tar=$cache_dir/rootfs-$codename-$arch-$rootfs_key.tar
	if [[ ! -s $rootfs_tar ]]; then
		command -v mmdebstrap >/dev/null 2>&1 || {
			say "installing mmdebstrap"
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
		}
		bash "$root/scripts/apt-sources.sh" "$codename" >"$tmp/sources.list"
		[[ -s $tmp/sources.list ]] || die "no Debian apt source for $codename on this machine"
		mapfile -t keyrings < <(grep -o 'signed-by=[^] ]*' "$tmp/sources.list" | cut -d= -f2- | tr ',' '\n' | grep '^/' | sort -u || true)
		mapfile -t aptopts < <(apt-config dump 2>/dev/null |
			grep -E '^Acquire::(https?::Proxy|Check-Valid-Until|Check-Date|ForceIPv4|Retries)( |::)' || true)
		args=(--mode=root --variant=minbase --format=tar --quiet
			"--include=$(IFS=,; echo "${packages[*]}")"
			--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*'
			--dpkgopt='path-exclude=/usr/share/locale/*'
			"--customize-hook=rm -rf \"\$1\"/var/cache/apt/*.bin \"\$1\"/var/lib/apt/lists/* \"\$1\"/var/log/apt/*")
		for o in "${aptopts[@]}"; do args+=("--aptopt=$o"); done
		for k in "${keyrings[@]}"; do
			[[ -r $k ]] && args+=("--setup-hook=mkdir -p \"\$1$(dirname "$k")\" && cp '$k' \"\$1$k\"")
		done
		t=$(now_ms)
		say "bootstrapping Debian $codename/$arch with ${packages[*]}"
		mmdebstrap "${args[@]}" "$codename" "$tmp/rootfs.tar" "$tmp/sources.list" || die "mmdebstrap failed"
		mv "$tmp/rootfs.tar" "$rootfs_tar"
		find "$cache_dir" -maxdepth 1 -name 'rootfs-*.tar' ! -path "$rootfs_tar" -delete
		say "bootstrapped in $(secs "$t") s ($(du -m "$rootfs_tar" | cut -f1) MB)"
	fi

	t=$(now_ms)
	# The machine's CA bundle, not Debian's: it holds the site's own CAs
	# (a TLS-inspecting egress proxy, an internal GitHub Enterprise), which
	# the module download and Fast-Flow's own calls need as the host does.
	mkdir -p "$tmp/certs/etc/ssl/certs"
	cp /etc/ssl/certs/ca-certificates.crt "$tmp/certs/etc/ssl/certs/ca-certificates.crt"

	# The Go builder: the root filesystem plus this machine's GOROOT.
	if stale $go_image "$go_key"; then
	cp "$rootfs_tar" "$tmp/go.tar"
	# In place of the rootfs's own bundle (docker import refuses a path twice).
	tar --delete -f "$tmp/go.tar" ./etc/ssl/certs/ca-certificates.crt
	tar --numeric-owner --owner=0 --group=0 -C "$tmp/certs" -rf "$tmp/go.tar" ./etc/ssl/certs/ca-certificates.crt
	tar --numeric-owner --owner=0 --group=0 -C "$(dirname "$goroot")" \
		--transform "s,^$(basename "$goroot"),usr/local/go," -rf "$tmp/go.tar" "$(basename "$goroot")"
	docker import \
		--change 'ENV PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'ENV GOTOOLCHAIN=local' \
		--change "LABEL fastflow.base=$go_key" \
		--change "LABEL org.opencontainers.image.description=\"Fast-Flow build base: Debian $codename with $gover\"" \
		"$tmp/go.tar" "$go_image" >/dev/null
	rm -f "$tmp/go.tar"
	fi

	# The runtime base: CA certificates, the users root and nobody, /tmp.
	if stale $static_image "$static_key"; then
	mkdir -p "$tmp/static/etc/ssl/certs" "$tmp/static/tmp"
	cp "$tmp/certs/etc/ssl/certs/ca-certificates.crt" "$tmp/static/etc/ssl/certs/"
	printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' >"$tmp/static/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$tmp/static/etc/group"
	chmod 1777 "$tmp/static/tmp"
	tar --numeric-owner --owner=0 --group=0 -C "$tmp/static" -cf "$tmp/static.tar" .
	docker import --change "LABEL fastflow.base=$static_key" \
		--change 'LABEL org.opencontainers.image.description="Fast-Flow runtime base: CA certificates only"' \
		"$tmp/static.tar" "$static_image" >/dev/null
	fi

	# PostgreSQL: Debian's server with an entrypoint like the official image's.
	if stale $postgres_image "$postgres_key"; then
	# grep stops reading at the first match; tar's SIGPIPE is expected.
	pgbin=$(set +o pipefail; tar -tf "$rootfs_tar" | grep -m1 -oE '^\./usr/lib/postgresql/[0-9]+/bin/' | sed 's,^\.,,')
	[[ -n $pgbin ]] || die "no PostgreSQL server in the root filesystem"
	cp "$rootfs_tar" "$tmp/pg.tar"
	install -D -m 0755 "$entrypoint" "$tmp/pgover/usr/local/bin/docker-entrypoint.sh"
	tar --numeric-owner --owner=0 --group=0 -C "$tmp/pgover" -rf "$tmp/pg.tar" ./usr/local/bin/docker-entrypoint.sh
	docker import \
		--change "ENV PATH=${pgbin%/}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
		--change 'ENV PGDATA=/var/lib/postgresql/data' \
		--change 'ENV LANG=C.UTF-8' \
		--change 'EXPOSE 5432' \
		--change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
		--change 'CMD ["postgres"]' \
		--change "LABEL fastflow.base=$postgres_key" \
		--change "LABEL org.opencontainers.image.description=\"Debian $codename PostgreSQL for Fast-Flow's tests\"" \
		"$tmp/pg.tar" "$postgres_image" >/dev/null
	rm -f "$tmp/pg.tar"
	fi
	docker image prune -f --filter label=fastflow.base >/dev/null 2>&1 || true
	say "base images imported in $(secs "$t") s"
else
	say "base images are up to date"
fi

[[ $bases_only == true ]] && exit 0

log=$(mktemp "${TMPDIR:-/tmp}/fastflow-image-build.XXXXXX")
trap 'rm -f "$log"' EXIT
# The version and commit the binary reports; the build context has no .git.
version=$(git describe --tags --always --dirty 2>/dev/null || echo devel)
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
# The binary's non-standard dependencies, compiled in a cached layer.
precompile=$(CGO_ENABLED=0 go list -tags timetzdata -deps \
	-f '{{if and (not .Standard) .Module (not .Module.Main)}}{{.ImportPath}}{{end}}' ./cmd/fastflow | tr '\n' ' ')
t=$(now_ms)
# The legacy builder: Debian's dockerd 20.10 has no buildx here. The host
# network lets `go mod download` reach the module proxy this machine uses.
build() {
	DOCKER_BUILDKIT=0 docker build --network host \
		--build-arg GO_IMAGE=$go_image --build-arg RUNTIME_IMAGE=$static_image \
		--build-arg "GOPROXY=$(go env GOPROXY)" --build-arg "GOFLAGS=-mod=readonly" \
		--build-arg "VERSION=$version" --build-arg "COMMIT=$commit" --build-arg "PRECOMPILE=$precompile" \
		-t "$image" "$root" >"$log" 2>&1
}
# Once more on failure: the module download crosses the network.
if ! build; then
	say "docker build failed; once more: $(tail -n 5 "$log" | tr '\n' ' ')"
	build || die "docker build failed:
$(tail -n 40 "$log")
(run: DOCKER_BUILDKIT=0 docker build --network host --build-arg GO_IMAGE=$go_image --build-arg RUNTIME_IMAGE=$static_image .)"
fi
size=$(docker image inspect -f '{{.Size}}' "$image")
say "built $image ($((size / 1000000)) MB, $version) in $(secs "$t") s; total $(secs "$t_start") s"
