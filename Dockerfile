# The hactl image: the drift job (and any other command) in a container, e.g. as the ECS
# task of a schedule. Build: docker build -t hactl .
# Run: docker run --rm -v "$PWD/config:/hactl/config:ro" -v "$PWD/state:/hactl/state" \
#        -e AWS_REGION -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY hactl
FROM rust:1.85-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p hactl && strip target/release/hactl

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home-dir /hactl --create-home hactl
COPY --from=build /src/target/release/hactl /usr/local/bin/hactl
USER hactl
WORKDIR /hactl
ENTRYPOINT ["/usr/local/bin/hactl", "--no-progress", "--log-format", "json"]
CMD ["drift", "--publish-metrics"]
