# syntax=docker/dockerfile:1
#
# One image, two binaries: `vodgate` (the default entrypoint) and `apivideo-sim` (the
# api.video stand-in; run it with `--entrypoint apivideo-sim`). Multi-stage: the Rust
# toolchain never reaches the runtime image, which runs as an unprivileged user.
# hls.js, the player script, the CSS and the HTML templates are compiled into the binary;
# only media/ (the sample titles, for the local origin and the sim) is copied as files.

ARG RUST_VERSION=1.95
# Builder and runtime on the same Debian release, so the binaries find the glibc they were linked against.
FROM rust:${RUST_VERSION}-slim-trixie AS build
# aws-lc-sys (rustls' crypto) compiles C; cmake covers its fallback build path.
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Cache mounts keep the registry and build artifacts between builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p vodgate -p apivideo-sim --bins \
    && mkdir -p /out \
    && cp target/release/vodgate target/release/apivideo-sim /out/

FROM debian:trixie-slim AS runtime
# CA certificates: vodgate talks TLS to ws.api.video / vod.api.video and rediss:// servers.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 vodgate \
    && useradd --system --uid 10001 --gid vodgate --home-dir /app --shell /usr/sbin/nologin vodgate
WORKDIR /app
COPY --from=build /out/vodgate /out/apivideo-sim /usr/local/bin/
# Read-only for the service user: owned by root, world-readable.
COPY media /app/media
ENV VODGATE_LISTEN=0.0.0.0:8080 \
    VODGATE_MEDIA_DIR=/app/media \
    RUST_LOG=info
USER 10001:10001
EXPOSE 8080 8089
ENTRYPOINT ["vodgate"]
CMD ["serve"]
