#!/usr/bin/env bash
# worker-image.sh builds the local worker image (fastflow-worker:local) that the
# tests and the demo run pipelines in: a Debian root filesystem of this
# machine's own release with python3, venv and pip, plus the stand-in uv of
# examples/worker-image/uv (no registry and no PyPI can be reached here, so the
# real uv image cannot be pulled; production keeps WORKER_BASE_IMAGE).
#
# It builds only when the image is missing or its recipe changed: the recipe is
# everything under examples/worker-image/ (but the Go test files) plus this
# script, hashed and compared with the image's label fastflow.recipe. The
# bootstrapped root filesystem is cached as a tarball outside the repository
# (keyed by the package list and the release), so `docker system prune` or a
# change to the stand-in uv costs an import, not a new bootstrap.
#
# The apt mirror, suites, components and signed-by keyrings come from this
# machine's apt sources (/etc/apt/sources.list, sources.list.d/*.list and
# deb822 *.sources); no mirror host is written in the repository.
#
# Usage: scripts/worker-image.sh [--force] [--check] [--optional]
#   --force     rebuild the image (the cached root filesystem is reused)
#   --rebootstrap  also bootstrap the root filesystem again
#   --check     only report: exit 0 when the image is up to date, 1 otherwise
#   --optional  when the image cannot be built (no docker, not root), say why
#               and exit 0 instead of failing (FASTFLOW_WORKER_IMAGE_OPTIONAL=1)
#
# Environment:
#   FASTFLOW_WORKER_IMAGE        image to build (default fastflow-worker:local)
#   FASTFLOW_WORKER_CACHE        rootfs cache (default /var/cache/fastflow/worker-image)
#   FASTFLOW_WORKER_APT_SOURCES  a one-line-style sources.list to use instead
#                                of the machine's apt sources
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd -P)
readonly recipe_dir=$root/examples/worker-image
readonly script=$root/scripts/worker-image.sh
readonly image=${FASTFLOW_WORKER_IMAGE:-fastflow-worker:local}
readonly cache_dir=${FASTFLOW_WORKER_CACHE:-/var/cache/fastflow/worker-image}
# Bump to bootstrap the root filesystem again when the bootstrap below changes.
readonly base_version=1

force=false
rebootstrap=false
check=false
optional=${FASTFLOW_WORKER_IMAGE_OPTIONAL:-false}
[[ $optional == 1 ]] && optional=true
for arg in "$@"; do
	case $arg in
	--force) force=true ;;
	--rebootstrap) force=true rebootstrap=true ;;
	--check) check=true ;;
	--optional) optional=true ;;
	-h | --help)
		sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$script"
		exit 0
		;;
	*)
		printf 'worker-image: unknown argument %q (see --help)\n' "$arg" >&2
		exit 2
		;;
	esac
done

say() { printf 'worker-image: %s\n' "$*" >&2; }
die() {
	say "ERROR: $*"
	exit 1
}
# cannot_build ends the script when the machine cannot build the image.
cannot_build() {
	if [[ $optional == true ]]; then
		say "SKIPPED: cannot build $image: $*"
		exit 0
	fi
	die "cannot build $image: $*"
}

now_ms() { date +%s%3N; }
secs() { # secs START_MS prints the seconds since START_MS, e.g. 1.234
	local d=$(($(now_ms) - $1))
	printf '%d.%03d' $((d / 1000)) $((d % 1000))
}
readonly t_start=$(now_ms)

# ------------------------------------------------------------- the recipe

[[ -r /etc/os-release ]] || cannot_build "no /etc/os-release"
codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
[[ -n $codename ]] || cannot_build "no VERSION_CODENAME in /etc/os-release (not Debian?)"
command -v dpkg >/dev/null 2>&1 || cannot_build "no dpkg (not Debian?)"
arch=$(dpkg --print-architecture)

# The packages of the root filesystem, without comments and blank lines.
mapfile -t packages < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$recipe_dir/packages.txt")
((${#packages[@]} > 0)) || die "$recipe_dir/packages.txt lists no package"
# Debian packages of Python libraries to repack as wheels into the image.
debian_wheels=()
if [[ -r $recipe_dir/debian-wheels.txt ]]; then
	mapfile -t debian_wheels < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$recipe_dir/debian-wheels.txt")
fi
# The shell commands, run inside the root filesystem, that make those wheels.
readonly wheels_dir=/opt/fastflow/wheels
debian_wheels_script="mkdir -p $wheels_dir
	cd /tmp/fastflow-debs
	apt-get download -qq -o APT::Sandbox::User=root ${debian_wheels[*]}
	python3 debian-wheel.py $wheels_dir *.deb >/dev/null
	cd / && rm -rf /tmp/fastflow-debs"

# recipe_hash covers what ends up in the image: every file of the recipe but
# the Go test package and Python caches, this script, the release and the
# architecture.
recipe_hash() {
	{
		printf 'release=%s arch=%s\n' "$codename" "$arch"
		(cd "$recipe_dir" && find . -type f ! -name '*.go' ! -name '*.pyc' ! -path '*/__pycache__/*' \
			! -name '*~' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
		sha256sum <"$script"
	} | sha256sum | cut -c1-24
}
recipe=$(recipe_hash)

# ---------------------------------------------------------- up to date?

command -v docker >/dev/null 2>&1 || cannot_build "the docker CLI is not installed (run scripts/test-env.sh as root)"
timeout 20 docker info >/dev/null 2>&1 ||
	cannot_build "no Docker engine answers (run scripts/test-env.sh as root to start one)"

image_recipe() {
	docker image inspect -f '{{ index .Config.Labels "fastflow.recipe" }}' "$image" 2>/dev/null || true
}

if [[ $force == false && $(image_recipe) == "$recipe" ]]; then
	say "$image is up to date (recipe $recipe; checked in $(secs "$t_start") s)"
	exit 0
fi
if [[ $check == true ]]; then
	say "$image is missing or stale (recipe $recipe)"
	exit 1
fi

[[ $(id -u) -eq 0 ]] || cannot_build "building needs root (mmdebstrap/debootstrap and the cache in $cache_dir); run: sudo $0"

mkdir -p "$cache_dir"
# One build at a time; a second caller waits, then finds the image built.
exec 9>"$cache_dir/.lock"
if ! flock -n 9; then
	say "another build holds $cache_dir/.lock; waiting"
	flock 9
fi
if [[ $force == false && $(image_recipe) == "$recipe" ]]; then
	say "$image was built meanwhile (recipe $recipe)"
	exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fastflow-worker-image.XXXXXX")
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT

# ------------------------------------------------------- the apt sources


sources=$tmp/sources.list
if [[ -n ${FASTFLOW_WORKER_APT_SOURCES:-} ]]; then
	grep -E '^[[:space:]]*deb[[:space:]]' "$FASTFLOW_WORKER_APT_SOURCES" >"$sources" ||
		die "no deb line in FASTFLOW_WORKER_APT_SOURCES=$FASTFLOW_WORKER_APT_SOURCES"
else
	bash "$root/scripts/apt-sources.sh" "$codename" >"$sources"
fi
[[ -s $sources ]] || cannot_build "no Debian apt source for $codename (main) in /etc/apt/sources.list{,.d/*.list,.d/*.sources}; set FASTFLOW_WORKER_APT_SOURCES to a sources.list"

# The keyrings the sources name, so apt in the bootstrap finds them.
mapfile -t keyrings < <(grep -o 'signed-by=[^] ]*' "$sources" | cut -d= -f2- | tr ',' '\n' | grep '^/' | sort -u || true)

# The host's apt settings a mirror may need (proxy, snapshot dates), read now
# rather than written in the repository.
mapfile -t aptopts < <(apt-config dump 2>/dev/null |
	grep -E '^Acquire::(https?::Proxy|Check-Valid-Until|Check-Date|ForceIPv4|Retries)( |::)' || true)

# ------------------------------------------------- the root filesystem

# Documentation, manuals and translations are never read in a worker.
dpkg_excludes=(
	'path-exclude=/usr/share/doc/*'
	'path-include=/usr/share/doc/*/copyright'
	'path-exclude=/usr/share/man/*'
	'path-exclude=/usr/share/info/*'
	'path-exclude=/usr/share/locale/*'
	'path-include=/usr/share/locale/locale.alias'
	'path-exclude=/usr/share/lintian/*'
)

tool=mmdebstrap
if ! command -v mmdebstrap >/dev/null 2>&1; then
	if command -v debootstrap >/dev/null 2>&1; then
		tool=debootstrap
	else
		say "installing mmdebstrap with apt-get"
		export DEBIAN_FRONTEND=noninteractive
		apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null 2>&1 || {
			apt-get update -qq >/dev/null
			apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
		} || die "apt-get install mmdebstrap failed"
	fi
fi

base_key=$({
	printf 'version=%s tool=%s release=%s arch=%s\n' "$base_version" "$tool" "$codename" "$arch"
	printf '%s\n' "${packages[@]}" "${dpkg_excludes[@]}" "${debian_wheels[@]}"
	sha256sum <"$recipe_dir/debian-wheel.py"
} | sha256sum | cut -c1-16)
base_tar=$cache_dir/rootfs-$codename-$arch-$base_key.tar

bootstrap_mmdebstrap() { # bootstrap_mmdebstrap OUT.tar
	local -a args=(--mode=root --variant=apt --format=tar --quiet
		"--include=$(
			IFS=,
			echo "${packages[*]}"
		)")
	local o k
	for o in "${aptopts[@]}"; do args+=("--aptopt=$o"); done
	for o in "${dpkg_excludes[@]}"; do args+=("--dpkgopt=$o"); done
	for k in "${keyrings[@]}"; do
		[[ -r $k ]] && args+=("--setup-hook=mkdir -p \"\$1$(dirname "$k")\" && cp '$k' \"\$1$k\"")
	done
	args+=("--customize-hook=mkdir -p \"\$1/app\" \"\$1/root/.cache/uv\"")
	if ((${#debian_wheels[@]} > 0)); then
		args+=("--customize-hook=mkdir -p \"\$1/tmp/fastflow-debs\" && cp '$recipe_dir/debian-wheel.py' \"\$1/tmp/fastflow-debs/\"")
		args+=("--customize-hook=chroot \"\$1\" sh -ec '$debian_wheels_script'")
	fi
	args+=("--customize-hook=rm -rf \"\$1\"/var/cache/apt/*.bin \"\$1\"/var/lib/apt/lists/* \"\$1\"/var/log/apt/* \"\$1\"/var/log/*.log")
	mmdebstrap "${args[@]}" "$codename" "$1" "$sources"
}

bootstrap_debootstrap() { # bootstrap_debootstrap OUT.tar
	local rootfs=$tmp/rootfs mirror comps keyring o
	# debootstrap takes one mirror: the first entry for the release itself;
	# apt inside then adds the updates and security suites.
	read -r mirror comps < <(awk -v cn="$codename" '{
		i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
		if ($(i + 1) == cn) { c = $(i + 2); for (j = i + 3; j <= NF; j++) c = c "," $j; print $i, c; exit }
	}' "$sources")
	[[ -n $mirror ]] || die "no apt source for the suite $codename itself"
	keyring=$(grep -m1 -o 'signed-by=/[^],]*' "$sources" | cut -d= -f2- || true)
	mkdir -p "$rootfs/etc/dpkg/dpkg.cfg.d" "$rootfs/etc/apt/apt.conf.d"
	printf '%s\n' "${dpkg_excludes[@]}" >"$rootfs/etc/dpkg/dpkg.cfg.d/01fastflow-excludes"
	printf '%s\n' "${aptopts[@]}" | sed 's/[^;]$/&;/' >"$rootfs/etc/apt/apt.conf.d/01fastflow"
	debootstrap --variant=minbase --components="$comps" ${keyring:+--keyring="$keyring"} \
		"$codename" "$rootfs" "$mirror" >"$tmp/debootstrap.log" 2>&1 ||
		{
			tail -n 20 "$tmp/debootstrap.log" >&2
			die "debootstrap failed"
		}
	for k in "${keyrings[@]}"; do
		[[ -r $k && ! -e $rootfs$k ]] && mkdir -p "$rootfs$(dirname "$k")" && cp "$k" "$rootfs$k"
	done
	cp "$sources" "$rootfs/etc/apt/sources.list"
	cp /etc/resolv.conf "$rootfs/etc/resolv.conf" 2>/dev/null || true
	chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive sh -ec "
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends ${packages[*]} >/dev/null
		apt-get clean" || die "apt-get install in the debootstrap root failed"
	if ((${#debian_wheels[@]} > 0)); then
		mkdir -p "$rootfs/tmp/fastflow-debs"
		cp "$recipe_dir/debian-wheel.py" "$rootfs/tmp/fastflow-debs/"
		chroot "$rootfs" sh -ec "$debian_wheels_script" || die "making wheels of ${debian_wheels[*]} failed"
	fi
	rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/apt/*
	mkdir -p "$rootfs/app" "$rootfs/root/.cache/uv"
	tar --numeric-owner -C "$rootfs" -cf "$1" .
}

t_bootstrap=$(now_ms)
if [[ $rebootstrap == true || ! -s $base_tar ]]; then
	say "bootstrapping Debian $codename/$arch with $tool (${packages[*]}) from: $(awk '{sub(/\[[^]]*\] /, ""); printf "%s%s %s", sep, $2, $3; sep = ", "}' "$sources")"
	"bootstrap_$tool" "$tmp/rootfs.tar" || die "$tool failed"
	mv "$tmp/rootfs.tar" "$base_tar"
	# Older root filesystems of this cache are not used any more.
	find "$cache_dir" -maxdepth 1 -name 'rootfs-*.tar' ! -path "$base_tar" -delete
	say "bootstrapped in $(secs "$t_bootstrap") s: $base_tar ($(du -m "$base_tar" | cut -f1) MB)"
else
	say "reusing the cached root filesystem $base_tar"
fi

# ------------------------------------------------------------ the image

# The stand-in uv is appended to a copy of the cached tarball.
t_import=$(now_ms)
overlay=$tmp/overlay
install -D -m 0755 "$recipe_dir/uv" "$overlay/usr/local/bin/uv"
cp "$base_tar" "$tmp/image.tar"
tar --numeric-owner --owner=0 --group=0 -C "$overlay" -rf "$tmp/image.tar" ./usr/local/bin/uv

old_id=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
docker import \
	--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--change 'ENV LANG=C.UTF-8' \
	--change 'ENV PYTHONUNBUFFERED=1' \
	--change 'ENV PYTHONDONTWRITEBYTECODE=1' \
	--change 'ENV UV_CACHE_DIR=/root/.cache/uv' \
	--change 'WORKDIR /app' \
	--change "LABEL fastflow.recipe=$recipe" \
	--change 'LABEL org.opencontainers.image.description="Fast-Flow local worker image: Debian python3 and a STAND-IN uv for offline tests"' \
	--change 'CMD ["uv", "--version"]' \
	--message "fastflow worker image, recipe $recipe" \
	"$tmp/image.tar" "$image" >/dev/null || die "docker import failed"
new_id=$(docker image inspect -f '{{.Id}}' "$image")
if [[ -n $old_id && $old_id != "$new_id" ]]; then
	# The previous build, now untagged; kept if a container still uses it.
	docker image rm "$old_id" >/dev/null 2>&1 || true
fi

version=$(docker run --rm --network none "$image" uv --version 2>&1) ||
	die "the new image does not run: docker run --rm --network none $image uv --version: $version"
[[ $version == *stand-in* ]] || die "unexpected uv --version in $image: $version"

size_mb=$(($(docker image inspect -f '{{.Size}}' "$image") / 1000000))
say "imported in $(secs "$t_import") s"
say "built $image ($size_mb MB, recipe $recipe) in $(secs "$t_start") s: $version"
