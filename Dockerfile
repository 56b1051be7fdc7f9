# tweet-capture: the X filtered stream and compliance streams, and batch compliance jobs -> Firehose / files / stdout (crates/capture).
# Multi-stage: a static musl binary built in the Rust image, run from an empty image as a
# non-root user. Build: docker build -t tweet-capture .
# Run:   docker run --rm -e X_BEARER_TOKEN -e AWS_REGION tweet-capture stream --to firehose://NAME

FROM rust:1.88-bookworm AS build
# musl-tools + clang: ring (rustls' crypto, the one TLS stack) compiles C for musl. cmake was
# for aws-lc-sys, which is no longer linked.
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools clang ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
RUN cargo build --locked --release --target x86_64-unknown-linux-musl -p capture --bin tweet-capture \
    && install -D -m 0755 target/x86_64-unknown-linux-musl/release/tweet-capture /out/tweet-capture \
    && install -d -m 0700 /out/spool

FROM scratch AS runtime
# CA roots for every TLS client (AWS SDK and X API): rustls uses the platform's roots.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/tweet-capture /tweet-capture
# The spool: where records wait on disk while the sink is slow or down (the default
# --spool-dir, through TMPDIR). A volume, so that a read-only root file system still has it
# (ECS copies the directory's owner into a bind mount at the same path).
COPY --from=build --chown=65534:65534 /out/spool /spool
ENV TMPDIR=/spool
VOLUME ["/spool"]
# nobody:nogroup; the image has no shell and nothing to write but stdout/stderr and /spool.
USER 65534:65534
# The process watches the stream itself (stall timeout, reconnects) and exits only on a fatal
# error, which the orchestrator restarts; this check only proves the binary runs.
HEALTHCHECK --interval=5m --timeout=10s CMD ["/tweet-capture", "--version"]
ENTRYPOINT ["/tweet-capture"]
CMD ["--help"]
