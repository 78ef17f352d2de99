#!/usr/bin/env bash
# k8s-cluster.sh runs a real single-node Kubernetes cluster on this machine for
# the tests of runtime/kubernetes, offline: kube-apiserver, controller-manager,
# scheduler and kubelet built from the Go module k8s.io/kubernetes, and etcd,
# containerd, runc and the CNI plugins from Debian. Everything listens on
# 127.0.0.1; it runs a containerd of its own and never touches the Docker
# engine's. Pods get an address on an isolated bridge and reach nothing.
#
# Usage: scripts/k8s-cluster.sh up|down|status|env|build
#   up      build the binaries if they are not cached, install what is missing
#           from Debian, start the cluster and import the worker image; does
#           nothing but refresh the image when a cluster already answers
#   down    stop everything up started and undo its host side effects (the
#           caches stay: binaries and the image store)
#   status  say whether the cluster answers (exit 0) or not (exit 1)
#   env     print `export KUBECONFIG=...` for eval
#   build   only build (or find) the Kubernetes binaries
#
# Environment:
#   FASTFLOW_K8S_VERSION   Kubernetes release (default v1.33.13; 1.35+ refuse cgroup v1)
#   FASTFLOW_K8S_CACHE     binaries and image store (default $XDG_CACHE_HOME/fastflow/k8s-VERSION,
#                          $XDG_CACHE_HOME defaulting to ~/.cache)
#   FASTFLOW_K8S_STATE     the running cluster: config, certificates, sockets, logs
#                          (default /run/fastflow-k8s); its kubeconfig is STATE/kubeconfig,
#                          where runtime/kubernetes's tests look for it
#   FASTFLOW_K8S_IMAGE     the Docker image to import (default fastflow-worker:local)
set -euo pipefail

readonly version=${FASTFLOW_K8S_VERSION:-v1.33.13}
readonly cache=${FASTFLOW_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fastflow/k8s-$version}
readonly state=${FASTFLOW_K8S_STATE:-/run/fastflow-k8s}
readonly image=${FASTFLOW_K8S_IMAGE:-fastflow-worker:local}
readonly bin=$cache/bin
readonly pki=$state/pki
readonly logs=$state/logs
readonly kubeconfig=$state/kubeconfig
readonly sock=$state/containerd.sock
# The content store survives down, so a warm up imports nothing.
readonly ctrd_root=$cache/containerd
readonly api_port=16443
readonly etcd_port=23790
readonly bridge=ffk8s0
# The kubelet's address: the API server's node proxy (which the stats
# summary goes through) refuses loopback addresses, so the kubelet listens
# on the address of an empty bridge of its own, reachable from this host only.
readonly node_link=ffk8s-node
readonly node_ip=10.250.77.1
readonly pod_subnet=10.244.77.0/24
readonly pause_ref=registry.k8s.io/pause:3.10
# Paths the kubelet and the CNI plugins use whatever they are told; the ones
# missing before up are written to $state/created and removed by down.
readonly host_paths=(/var/lib/kubelet /var/lib/cni /var/log/containers /var/log/pods /var/run/netns)

started=$(date +%s)
say() { printf 'k8s-cluster: [+%ss] %s\n' "$(($(date +%s) - started))" "$*" >&2; }
die() {
	say "ERROR: $*"
	exit 1
}

kctl() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }
ctr_k8s() { ctr --address "$sock" --namespace k8s.io "$@"; }

# wait_for SECONDS WHAT COMMAND... polls COMMAND once a second.
wait_for() {
	local n=$1 what=$2
	shift 2
	for ((i = 0; i < n * 2; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	die "$what did not come up in ${n}s (logs in $logs)"
}

# --------------------------------------------------------------- build

built() {
	local b
	for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl; do
		[[ -x $bin/$b ]] || return 1
	done
	"$bin/kubelet" --version 2>/dev/null | grep -qw "$version"
}

# build compiles the five programs from k8s.io/kubernetes. Its go.mod points
# every k8s.io/* staging module at ./staging, which the module zip lacks, so a
# wrapper module requires it and points them at the published v0.X.Y modules.
build() {
	if built; then
		return 0
	fi
	command -v go >/dev/null || die "go is not on PATH"
	local src=$cache/src staging=v0.${version#v1.}
	local minor
	minor=$(cut -d. -f2 <<<"$version")
	mkdir -p "$src" "$bin"
	say "build: fetch k8s.io/kubernetes@$version"
	local gomod
	gomod=$(cd "$src" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$version" |
		sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p')
	[[ -r $gomod ]] || die "the Go module proxy did not serve k8s.io/kubernetes@$version"
	{
		printf 'module fastflow.local/k8sbuild\n\n'
		grep -E '^go ' "$gomod"
		printf '\nrequire k8s.io/kubernetes %s\n\n' "$version"
		# The sample-* modules are examples nothing imports; the proxy lacks some.
		awk -v v="$staging" '$1 ~ /^k8s\.io\// && $2 == "=>" && $3 ~ /^\.\/staging/ && $1 !~ /sample-/ {
			print "replace " $1 " => " $1 " " v }' "$gomod"
	} >"$src/go.mod"
	{
		printf '//go:build tools\n\n// Package tools pins the programs this module builds.\npackage tools\n\nimport (\n'
		for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl; do
			printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$b"
		done
		printf ')\n'
	} >"$src/tools.go"
	(cd "$src" && GOFLAGS=-mod=mod go mod tidy) >"$cache/build.log" 2>&1 ||
		die "go mod tidy failed (see $cache/build.log)"
	say "build: kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl (minutes on a cold Go cache)"
	local v=k8s.io/component-base/version
	(cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$bin/" \
		-ldflags "-s -w -X $v.gitVersion=$version -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean" \
		k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubectl) \
		>>"$cache/build.log" 2>&1 || die "go build failed (see $cache/build.log)"
	built || die "the built kubelet does not report $version"
}

# --------------------------------------------------------------- Debian packages

# packages installs what is missing. The machine's own apt sources are used,
# so no mirror is named here; etcd's package would start a service on
# install, which a policy-rc.d answer forbids for the install's length.
packages() {
	local -a want=()
	command -v etcd >/dev/null || want+=(etcd-server)
	command -v containerd >/dev/null && command -v ctr >/dev/null || want+=(containerd)
	command -v runc >/dev/null || want+=(runc)
	[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] ||
		want+=(containernetworking-plugins)
	command -v openssl >/dev/null || want+=(openssl)
	command -v ip >/dev/null || want+=(iproute2)
	((${#want[@]} == 0)) && return 0
	[[ $(id -u) -eq 0 ]] || die "missing ${want[*]} and not root to install them"
	command -v apt-get >/dev/null || die "missing ${want[*]} and no apt-get to install them"
	say "apt-get install ${want[*]}"
	local policy=/usr/sbin/policy-rc.d made_policy=false
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod +x "$policy"
		made_policy=true
	fi
	local rc=0
	{
		apt-get update -qq &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}"
	} >"$cache/apt.log" 2>&1 || rc=$?
	[[ $made_policy == true ]] && rm -f "$policy"
	((rc == 0)) || die "apt-get install failed (see $cache/apt.log)"
	# Should a service have started all the same, the cluster's etcd runs on
	# ports of its own and does not need it stopped.
}

# --------------------------------------------------------------- images

# pause_image makes the pod sandbox image from a small Go program (it waits
# for a signal and reaps the children it inherits as PID 1 of a pod that
# shares its process namespace), written in `docker save` layout.
pause_image() {
	ctr_k8s images ls -q | grep -qx "$pause_ref" && return 0
	local dir=$cache/pause
	if [[ ! -s $dir/pause.tar ]]; then
		say "build the pause image"
		mkdir -p "$dir/src" "$dir/root"
		cat >"$dir/src/go.mod" <<-'EOF'
			module fastflow.local/pause

			go 1.22
		EOF
		cat >"$dir/src/main.go" <<-'EOF'
			// Command pause holds a pod's namespaces open until it is told to stop.
			package main

			import (
				"os"
				"os/signal"
				"syscall"
			)

			func main() {
				sig := make(chan os.Signal, 8)
				signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
				for s := range sig {
					if s != syscall.SIGCHLD {
						os.Exit(0)
					}
					for {
						var ws syscall.WaitStatus
						if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
							break
						}
					}
				}
			}
		EOF
		(cd "$dir/src" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$dir/root/pause" .)
		local layer=$dir/layer.tar cfg diff id
		tar --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$layer" -C "$dir/root" pause
		diff=$(sha256sum "$layer" | cut -d' ' -f1)
		cfg=$(printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/pause"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$diff")
		id=$(printf '%s' "$cfg" | sha256sum | cut -d' ' -f1)
		mkdir -p "$dir/img/$diff"
		printf '%s' "$cfg" >"$dir/img/$id.json"
		mv "$layer" "$dir/img/$diff/layer.tar"
		printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' "$id" "$pause_ref" "$diff" \
			>"$dir/img/manifest.json"
		tar -cf "$dir/pause.tar" -C "$dir/img" .
	fi
	ctr_k8s images import "$dir/pause.tar" >/dev/null
}

# worker_image imports the Docker image when containerd lacks it or Docker's
# copy has another ID than the one imported last.
worker_image() {
	local id ref=docker.io/library/$image mark=$cache/image-${image//[^a-zA-Z0-9._-]/_}.id
	[[ $image == */* ]] && ref=$image
	if ! command -v docker >/dev/null || ! id=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null); then
		say "WARNING: Docker has no image $image; pods of it will not start (build it: make worker-image)"
		return 0
	fi
	if [[ -f $mark && $(cat "$mark") == "$id" ]] && ctr_k8s images ls -q | grep -qx "$ref"; then
		return 0
	fi
	say "import $image ($id) from docker save"
	docker save "$image" | ctr_k8s images import - >/dev/null
	printf '%s\n' "$id" >"$mark"
}

# --------------------------------------------------------------- configuration

certs() {
	mkdir -p "$pki"
	local -a q=(-days 30)
	openssl genrsa -out "$pki/ca.key" 2048 2>/dev/null
	openssl req -x509 -new -nodes -key "$pki/ca.key" -subj /CN=fastflow-test-ca "${q[@]}" -out "$pki/ca.crt" 2>/dev/null
	# cert NAME SUBJECT EXTENSIONS
	cert() {
		openssl genrsa -out "$pki/$1.key" 2048 2>/dev/null
		openssl req -new -key "$pki/$1.key" -subj "$2" -out "$pki/$1.csr" 2>/dev/null
		printf '%b\n' "$3" >"$pki/$1.ext"
		openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
			"${q[@]}" -extfile "$pki/$1.ext" -out "$pki/$1.crt" 2>/dev/null
	}
	cert apiserver /CN=kube-apiserver \
		'subjectAltName=IP:127.0.0.1,IP:10.96.77.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth'
	cert admin /O=system:masters/CN=fastflow-test-admin 'extendedKeyUsage=clientAuth'
	cert kubelet /CN=localhost "subjectAltName=IP:127.0.0.1,IP:$node_ip,DNS:localhost\\nextendedKeyUsage=serverAuth"
	openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
	openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
	cat >"$kubeconfig" <<-EOF
		apiVersion: v1
		kind: Config
		clusters:
		- name: fastflow-test
		  cluster: {server: "https://127.0.0.1:$api_port", certificate-authority: "$pki/ca.crt"}
		users:
		- name: admin
		  user: {client-certificate: "$pki/admin.crt", client-key: "$pki/admin.key"}
		contexts:
		- name: fastflow-test
		  context: {cluster: fastflow-test, user: admin, namespace: default}
		current-context: fastflow-test
	EOF
}

configs() {
	mkdir -p "$state/cni" "$state/kubelet" "$state/pod-logs"
	cat >"$state/containerd.toml" <<-EOF
		version = 2
		root = "$ctrd_root"
		state = "$state/containerd"
		[grpc]
		  address = "$sock"
		[ttrpc]
		  address = "$sock.ttrpc"
		[debug]
		  address = "$state/containerd-debug.sock"
		[plugins."io.containerd.internal.v1.opt"]
		  path = "$state/containerd-opt"
		[plugins."io.containerd.grpc.v1.cri"]
		  sandbox_image = "$pause_ref"
		  stream_server_address = "127.0.0.1"
		  stream_server_port = "0"
		  # Root on these VMs lacks CAP_SYS_RESOURCE, so runc cannot set a
		  # negative oom_score_adj and every sandbox would fail to start.
		  restrict_oom_score_adj = true
		  # Network namespaces under our state, not the host's /var/run/netns.
		  netns_mounts_under_state_dir = true
		  [plugins."io.containerd.grpc.v1.cri".containerd]
		    snapshotter = "overlayfs"
		    default_runtime_name = "runc"
		    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
		      runtime_type = "io.containerd.runc.v2"
		      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
		        SystemdCgroup = false
		        Root = "$state/runc"
		  [plugins."io.containerd.grpc.v1.cri".cni]
		    bin_dir = "/usr/lib/cni"
		    conf_dir = "$state/cni"
	EOF
	# No gateway, no masquerade: pods get an address and reach nothing,
	# and the host's iptables stay as they are.
	cat >"$state/cni/10-fastflow.conflist" <<-EOF
		{"cniVersion": "0.4.0", "name": "fastflow-test", "plugins": [
		  {"type": "bridge", "bridge": "$bridge", "isGateway": false, "ipMasq": false,
		   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$pod_subnet"}]], "dataDir": "$state/cni-ipam"}},
		  {"type": "loopback"}]}
	EOF
	cat >"$state/kubelet/config.yaml" <<-EOF
		apiVersion: kubelet.config.k8s.io/v1beta1
		kind: KubeletConfiguration
		address: $node_ip
		port: 10250
		readOnlyPort: 0
		healthzBindAddress: 127.0.0.1
		tlsCertFile: $pki/kubelet.crt
		tlsPrivateKeyFile: $pki/kubelet.key
		authentication: {anonymous: {enabled: false}, webhook: {enabled: false}, x509: {clientCAFile: $pki/ca.crt}}
		authorization: {mode: AlwaysAllow}
		cgroupDriver: cgroupfs
		containerRuntimeEndpoint: unix://$sock
		failSwapOn: false
		failCgroupV1: false
		# Without this the kubelet adds iptables chains to the host.
		makeIPTablesUtilChains: false
		podLogsDir: $state/pod-logs
		serializeImagePulls: false
		imageGCHighThresholdPercent: 100
		imageGCLowThresholdPercent: 99
		evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
		rotateCertificates: false
		nodeStatusReportFrequency: 10s
		featureGates: {PodLogsQuerySplitStreams: true}
	EOF
}

# --------------------------------------------------------------- processes

# spawn NAME COMMAND... runs COMMAND in the background, its pid in $state/NAME.pid.
spawn() {
	local name=$1
	shift
	nohup "$@" >"$logs/$name.log" 2>&1 </dev/null &
	echo $! >"$state/$name.pid"
}

# ours PID says whether PID is a process up started: after a reboot, or
# once the processes were killed without down, a pid file may name
# another program's process.
ours() {
	[[ -r /proc/$1/cmdline ]] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -e "$state" -e "$bin/"
}

stop_pid() {
	local f=$state/$1.pid p
	[[ -f $f ]] || return 0
	p=$(cat "$f")
	if ours "$p"; then
		kill "$p" 2>/dev/null || true
		for ((i = 0; i < 40; i++)); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.25
		done
		kill -9 "$p" 2>/dev/null || true
	fi
	rm -f "$f"
}

answers() {
	[[ -r $kubeconfig && -x $bin/kubectl ]] &&
		timeout 10 "$bin/kubectl" --kubeconfig "$kubeconfig" --request-timeout=5s get --raw /readyz >/dev/null 2>&1
}

node_ready() {
	kctl get node localhost -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -qx True
}

up() {
	if answers && node_ready; then
		mkdir -p "$cache"
		worker_image
		say "the cluster answers already (KUBECONFIG=$kubeconfig)"
		return 0
	fi
	# The kubelet and containerd need root; elsewhere the tests skip (and
	# fail under CI=true), as with scripts/test-env.sh's parts.
	if [[ $(id -u) -ne 0 ]]; then
		[[ ${CI:-} == true ]] && die "not root: cannot run a kubelet"
		say "MISSING: a Kubernetes test cluster (not root, so not starting one); runtime/kubernetes's tests will skip, and fail under CI=true"
		return 0
	fi
	# Whatever an earlier up left half-running goes first.
	[[ -d $state ]] && down
	mkdir -p "$cache" "$state" "$logs"
	packages
	build
	for p in "${host_paths[@]}"; do
		[[ -e $p ]] || echo "$p" >>"$state/created"
	done
	if ! ip link show "$node_link" >/dev/null 2>&1; then
		ip link add "$node_link" type bridge
		ip addr add "$node_ip/32" dev "$node_link"
		ip link set "$node_link" up
	fi
	certs
	configs
	say "start etcd and containerd"
	spawn etcd etcd --name fastflow-test --data-dir "$state/etcd" --unsafe-no-fsync \
		--listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
		--listen-peer-urls "http://127.0.0.1:$((etcd_port + 10))" \
		--initial-advertise-peer-urls "http://127.0.0.1:$((etcd_port + 10))" \
		--initial-cluster "fastflow-test=http://127.0.0.1:$((etcd_port + 10))"
	spawn containerd containerd --config "$state/containerd.toml"
	wait_for 30 containerd ctr_k8s version
	pause_image
	worker_image
	say "start kube-apiserver"
	spawn kube-apiserver "$bin/kube-apiserver" --etcd-servers="http://127.0.0.1:$etcd_port" \
		--bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" \
		--service-cluster-ip-range=10.96.77.0/24 \
		--tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" --client-ca-file="$pki/ca.crt" \
		--service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
		--service-account-issuer=https://kubernetes.default.svc \
		--kubelet-client-certificate="$pki/admin.crt" --kubelet-client-key="$pki/admin.key" \
		--kubelet-certificate-authority="$pki/ca.crt" \
		--kubelet-preferred-address-types=InternalIP \
		--authorization-mode=Node,RBAC --profiling=false --feature-gates=PodLogsQuerySplitStreams=true
	wait_for 120 kube-apiserver answers
	say "start kube-controller-manager, kube-scheduler, kubelet"
	spawn kube-controller-manager "$bin/kube-controller-manager" --kubeconfig="$kubeconfig" \
		--bind-address=127.0.0.1 --secure-port=0 --leader-elect=false --profiling=false \
		--service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
		--use-service-account-credentials=false --controllers='*,-nodeipam'
	spawn kube-scheduler "$bin/kube-scheduler" --kubeconfig="$kubeconfig" \
		--bind-address=127.0.0.1 --secure-port=0 --leader-elect=false --profiling=false
	spawn kubelet "$bin/kubelet" --config="$state/kubelet/config.yaml" --kubeconfig="$kubeconfig" \
		--root-dir="$state/kubelet/root" --hostname-override=localhost --node-ip="$node_ip"
	wait_for 120 "the node" node_ready
	wait_for 60 "the default service account" kctl get serviceaccount default -n default
	say "up (KUBECONFIG=$kubeconfig)"
}

down() {
	[[ -d $state ]] || return 0
	say "down"
	for n in kubelet kube-scheduler kube-controller-manager kube-apiserver; do stop_pid "$n"; done
	if [[ -S $sock ]]; then
		local t c
		for t in $(ctr_k8s tasks ls -q 2>/dev/null); do ctr_k8s tasks kill -s KILL "$t" 2>/dev/null || true; done
		for t in $(ctr_k8s tasks ls -q 2>/dev/null); do ctr_k8s tasks delete -f "$t" >/dev/null 2>&1 || true; done
		for c in $(ctr_k8s containers ls -q 2>/dev/null); do ctr_k8s containers delete "$c" >/dev/null 2>&1 || true; done
	fi
	stop_pid containerd
	local f
	for f in "$state"/containerd/io.containerd.runtime.v2.task/*/*/shim.pid; do
		[[ -f $f ]] && ours "$(cat "$f")" && kill -9 "$(cat "$f")" 2>/dev/null || true
	done
	# Containers whose containerd was killed before down (a session's end)
	# outlive their shims: runc kills and deletes them from its own state.
	local c
	for c in $(runc --root "$state/runc/k8s.io" list -q 2>/dev/null); do
		runc --root "$state/runc/k8s.io" delete -f "$c" >/dev/null 2>&1 || true
	done
	stop_pid etcd
	# Mounts under the state (network namespaces, root filesystems, shm), deepest first.
	awk -v s="$state/" 'index($5, s) == 1 {print $5}' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done
	local cg
	for cg in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
		[[ -d $cg ]] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
	done
	ip link del "$bridge" 2>/dev/null || true
	ip link del "$node_link" 2>/dev/null || true
	find /var/log/containers -maxdepth 1 -lname "$state/*" -delete 2>/dev/null || true
	if [[ -f $state/created ]]; then
		local p
		while read -r p; do rm -rf "$p"; done <"$state/created"
	fi
	rm -rf "$state"
	say "down done"
}

status() {
	if answers; then
		echo "up: the API server answers (KUBECONFIG=$kubeconfig)"
		kctl get nodes
		return 0
	fi
	echo "down: no cluster answers at $kubeconfig"
	return 1
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
env)
	printf 'export KUBECONFIG=%q\n' "$kubeconfig"
	printf 'export PATH=%q:"$PATH"\n' "$bin"
	;;
build) build ;;
*)
	echo "usage: $0 up|down|status|env|build" >&2
	exit 2
	;;
esac
