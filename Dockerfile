# syntax=docker/dockerfile:1
# smartreply as a container: build the release binary, then a slim runtime image holding only
# the binary, the models and the knowledge bases. Build: `docker build -t smartreply .`
# Run (docs/operations.md, "Container"): real secrets are required, since the container listens
# on every interface and `serve` refuses the published development secrets there:
#   docker run -p 8080:8080 -v smartreply-data:/data \
#     -e SMARTREPLY_SHOP_DEMO_WEBHOOK_SECRET=... -e SMARTREPLY_AGENT_DEV_AGENT_TOKEN=... smartreply
# or mount a configuration file and run `serve --config /etc/smartreply/smartreply.toml`.

# --- build -------------------------------------------------------------------------------
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Everything needed is vendored in the crates (no build-time downloads besides crates.io);
# the cache mounts keep the registry and the target directory between builds.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin smartreply \
    && cp target/release/smartreply /usr/local/bin/smartreply

# --- runtime -----------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# CA certificates for HTTPS callbacks and Chatwoot; curl for the health check only.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin smartreply \
    && mkdir -p /data /etc/smartreply \
    && chown smartreply:smartreply /data
WORKDIR /app
COPY --from=build /usr/local/bin/smartreply /usr/local/bin/smartreply
COPY models/ /app/models/
COPY knowledge-base/ /app/knowledge-base/
# Defaults for a container: listen on every interface, keep SQLite in the volume. A config
# file (`--config`) or these variables override them; PostgreSQL via SMARTREPLY_DATABASE_URL.
ENV SMARTREPLY_LISTEN=0.0.0.0:8080 \
    SMARTREPLY_DATABASE_URL=sqlite:///data/smartreply.db \
    SMARTREPLY_MODELS_DIR=/app/models \
    RUST_LOG=info
USER smartreply
VOLUME ["/data"]
EXPOSE 8080
# Ready means: the store answers and every shop's models are loaded (training takes seconds).
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/readyz >/dev/null || exit 1
ENTRYPOINT ["smartreply"]
CMD ["serve"]
