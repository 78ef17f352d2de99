# Fast-Flow's image: one static binary on a small base with CA certificates.
#
#   docker build -t fastflow:local .
#
# The bases are build arguments so a site without a registry (and this
# project's CI) builds on images it made itself: scripts/image.sh bootstraps
# both from the machine's Debian apt sources and passes them here.
#
#   GO_IMAGE       has Go (at the go.mod version or newer) and a shell
#   RUNTIME_IMAGE  has /etc/ssl/certs/ca-certificates.crt; nothing else is
#                  needed (time-zone data is compiled into the binary)
ARG GO_IMAGE=golang:1.26-bookworm
ARG RUNTIME_IMAGE=alpine:3.22

FROM ${GO_IMAGE} AS build
WORKDIR /src
# Modules first: this layer is reused while only Fast-Flow's own code changes.
COPY go.mod go.sum ./
ARG GOPROXY
ARG GOFLAGS
RUN go mod download
# CGO off: the SQLite driver is pure Go, so the binary runs on any base.
# timetzdata: schedules in any time zone work without the base's zoneinfo.
ENV CGO_ENABLED=0
# Optional: the dependency packages to compile in a layer of their own
# (scripts/image.sh passes `go list -deps` of the binary), so a change to
# Fast-Flow's code recompiles only Fast-Flow. Changes with the dependencies.
ARG PRECOMPILE=""
RUN if [ -n "$PRECOMPILE" ]; then go build -trimpath -tags timetzdata $PRECOMPILE; fi
COPY . .
ARG VERSION=devel
ARG COMMIT=unknown
RUN go build -trimpath -tags timetzdata \
      -ldflags "-s -w -X main.buildVersion=${VERSION} -X main.buildCommit=${COMMIT}" \
      -o /out/fastflow ./cmd/fastflow \
 && /out/fastflow version

FROM ${RUNTIME_IMAGE}
ARG VERSION=devel
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="Fast-Flow" \
      org.opencontainers.image.description="GitOps operator that runs a team's Python pipelines from a Git repository" \
      org.opencontainers.image.source="https://github.com/fastflow-dev/fastflow" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
COPY --from=build /out/fastflow /usr/local/bin/fastflow
# State lives in volumes; the compose file mounts them at the same absolute
# path as on the host (see docker-compose.yaml for why).
ENV DATA_DIR=/var/lib/fastflow/data \
    LOGS_DIR=/var/lib/fastflow/logs \
    LISTEN_ADDR=:8080
WORKDIR /var/lib/fastflow
EXPOSE 8080
# The operator drains on SIGTERM (SHUTDOWN_POLICY); give it the compose
# file's stop_grace_period.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/fastflow", "health"]
ENTRYPOINT ["/usr/local/bin/fastflow"]
CMD ["serve"]
