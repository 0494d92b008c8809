# syntax=docker/dockerfile:1
#
# hrsync container image.
#
#   docker build -t hrsync .
#   docker run --rm -p 9464:9464 -v hrsync-data:/app/data hrsync run
#
# The final image is distroless (glibc, libgcc, CA certificates, tzdata; no shell, no
# package manager) and runs as the distroless `nonroot` user (uid/gid 65532).
# Working directory /app: the default configuration path `config/hrsync.toml` and the
# default state store `sqlite://data/hrsync.db` are relative to it, so /app/config comes
# with the image (mount your own over it) and /app/data is a volume that must be writable
# by uid 65532.
#
# Liveness and readiness are HTTP endpoints on the metrics port (GET /healthz, GET /readyz
# on :9464). The image has no shell and no curl, so a container runtime that can only run
# a command uses the binary itself: `hrsync healthcheck` GETs /readyz (exit 0 ready, 1 not),
# in exec form only — docker-compose.yml's hrsync service does:
#   healthcheck: { test: ["CMD", "/usr/local/bin/hrsync", "healthcheck"] }
# The image declares no HEALTHCHECK of its own: it also runs `hrsync simulator` and one-shot
# commands (check-config, dlq, reconcile), which serve no /readyz. Kubernetes ignores
# HEALTHCHECK anyway and probes the endpoints over HTTP
# (deploy/kubernetes/base/deployment.yaml).

# The revision for `hrsync --version` and the hrsync_build_info metric: the build context
# has no .git, so pass it in (docker-compose.yml does, from the environment):
#   docker build --build-arg HRSYNC_GIT_COMMIT="$(git rev-parse --short HEAD)" -t hrsync .
# Without it the revision is `unknown`. SOURCE_DATE_EPOCH, when given, fixes the build date.

# ---- build stage: the release binary, against the locked dependencies -----------------
FROM rust:1.95-slim-bookworm AS build
ARG HRSYNC_GIT_COMMIT=""
ARG SOURCE_DATE_EPOCH
WORKDIR /src
# Only what `cargo build --release --bin hrsync` reads: the manifest and lock file, the
# build script, the migrations (embedded by sqlx::migrate!), the example events (embedded
# for `check-config`, which evaluates the mapping against them), the benchmark the
# manifest declares, the workspace's crates (the simulator, built in for
# `hrsync run --with-simulator`) and the sources. tests/ and docs/ are not needed.
COPY Cargo.toml Cargo.lock build.rs ./
COPY migrations ./migrations
COPY examples/events ./examples/events
COPY benches ./benches
COPY crates ./crates
COPY src ./src
# The registry and target caches survive between builds (BuildKit cache mounts); the
# binary is copied out of the cached target dir so the next stage can take it.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin hrsync \
    && install -D -m 0755 target/release/hrsync /out/hrsync \
    && install -d -m 0750 /out/data

# ---- run stage ---------------------------------------------------------------------------
FROM gcr.io/distroless/cc-debian12:nonroot
ARG HRSYNC_GIT_COMMIT=""
LABEL org.opencontainers.image.title="hrsync" \
      org.opencontainers.image.description="HR events from RabbitMQ to Veeva Vault, SiteVault, SuperOffice and SCIM 2.0" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.revision="${HRSYNC_GIT_COMMIT}"
WORKDIR /app
COPY --from=build /out/hrsync /usr/local/bin/hrsync
# The shipped configuration. config/dev-secrets holds only the local broker's `guest`
# password and the target simulator's credentials (see its README); in production every
# secret comes from a mounted file or an HRSYNC_* environment override.
COPY config ./config
# The state store's directory, owned by the runtime user so a fresh named volume mounted
# here inherits a writable owner.
COPY --from=build --chown=65532:65532 /out/data ./data
VOLUME ["/app/data"]
USER 65532:65532
ENV HRSYNC_HTTP__LISTEN=0.0.0.0:9464
# 9464: /metrics, /healthz, /readyz. 8099: the target simulator (`hrsync simulator`).
EXPOSE 9464 8099
ENTRYPOINT ["/usr/local/bin/hrsync"]
CMD ["run"]
