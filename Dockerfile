# The hactl image: the drift job (and any other command) in a container, e.g. the ECS
# task of the scheduled drift job (drift.schedule). The repo's config/ is copied into the
# image at /hactl/config, where the job's task definition points (drift.config_path):
# rebuild and push the image when the config changes.
# Build: docker build -t hactl .
# Run:   docker run --rm -v "$PWD/state:/hactl/state" \
#          -e AWS_REGION -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY hactl \
#          --config config/ha-stack.toml drift
# The AWS SDK crates need Rust 1.94.1 or newer (the workspace's rust-version).
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p hactl && strip target/release/hactl

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home-dir /hactl --create-home hactl
COPY --from=build /src/target/release/hactl /usr/local/bin/hactl
COPY --chown=hactl config /hactl/config
USER hactl
WORKDIR /hactl
ENTRYPOINT ["/usr/local/bin/hactl", "--no-progress", "--log-format", "json"]
CMD ["drift", "--publish-metrics"]
