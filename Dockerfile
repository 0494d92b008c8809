# syntax=docker/dockerfile:1
# Build stage: compile the release binary against the locked dependencies.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY build.rs ./
COPY migrations ./migrations
COPY src ./src
COPY tests ./tests
RUN cargo build --release --locked --bin hrsync

# Run stage: a small image with only the binary, its configuration and CA certificates.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home hrsync
WORKDIR /app
COPY --from=build /src/target/release/hrsync /usr/local/bin/hrsync
COPY config ./config
USER 10001
EXPOSE 9464 8099
ENV HRSYNC_HTTP__LISTEN=0.0.0.0:9464
ENTRYPOINT ["/usr/local/bin/hrsync"]
CMD ["run"]
