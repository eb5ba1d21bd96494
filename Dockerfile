# isogate: one static binary on a distroless base, running as a non-root user.
#
#   docker build -t isogate .
#   docker run --rm -p 127.0.0.1:8080:8080 -v isogate-data:/data isogate
#
# With no ISOGATE_NATS_URL the container runs the embedded NATS server, with
# JetStream files under /data and fsync on every write. docker-compose.yml
# runs it against a three-node NATS cluster instead.

# The build stage runs on the builder's own platform and cross-compiles for
# the target (TARGETOS/TARGETARCH are set by BuildKit; empty means native).
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
# Modules first: this layer is rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/isogate ./cmd/isogate \
 && mkdir /out/data

# static-debian12 has CA certificates and time zones, no shell and no
# package manager. nonroot is uid/gid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/isogate /isogate
# An empty /data owned by the runtime user: a named volume mounted here
# starts with this owner, so the non-root process can write to it.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
# In a container the ops server and the embedded NATS server must listen on
# every interface to be reachable through published ports. Publish them on
# the host's loopback only (-p 127.0.0.1:8080:8080) unless something in
# front authenticates: the NATS ports have no authentication by default.
ENV ISOGATE_DATA_DIR=/data \
    ISOGATE_OPS_LISTEN=0.0.0.0:8080 \
    ISOGATE_NATS_EMBEDDED_HOST=0.0.0.0
VOLUME ["/data"]
# 8080 ops (/healthz, /readyz, /metrics); 4222 NATS clients and 8222 NATS
# monitoring, both of the embedded server only.
EXPOSE 8080 4222 8222
# No HEALTHCHECK: distroless has no shell or HTTP client to run one. Probe
# http://<container>:8080/readyz from outside (Kubernetes readinessProbe,
# a load balancer) instead.
ENTRYPOINT ["/isogate"]
CMD ["serve"]
