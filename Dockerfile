# syntax=docker/dockerfile:1
#
# Navigator as a container image: one static (musl) binary at /bootstrap, in
# an otherwise empty image, for AWS Lambda (PackageType: Image) and for
# running the local server anywhere.
#
# On Lambda the runtime sets AWS_LAMBDA_RUNTIME_API and the binary is its own
# runtime interface client (lambda_runtime), so no AWS base image is needed;
# it is configured like every entry point (README, Configuration), and the
# deploy template gives it the database (NAVIGATOR_DB_HOST: RDS Proxy). The
# image sets no DATABASE_URL: the local default (sqlite://navigator.db in
# the working directory /data) applies only where nothing else is
# configured, and Lambda refuses it.
#
# Lambda layers do not apply to images, so two things a zip function gets
# from layers come in as build contexts (each stage is empty without one):
#   rds-ca             deploy/rds-ca/ with global-bundle.pem, the RDS CA
#                      bundle the database's certificate is verified against
#                      (deploy/rds-ca/fetch.sh downloads it)
#   secrets-extension  the AWS Parameters and Secrets Lambda Extension's
#                      layer, unzipped (it holds extensions/...): the
#                      migration function reads the administrator's secret
#                      through it
#
#   podman build --platform linux/arm64 --build-context rds-ca=deploy/rds-ca \
#     --build-context secrets-extension=./layer -t navigator .
#
# Both architectures build: linux/arm64 (Graviton, the template's default)
# and linux/amd64; the builder compiles for the platform it runs on.
#
# Without AWS_LAMBDA_RUNTIME_API the binary serves HTTP, as `navigator serve`:
#
#   podman run -p 3000:3000 -e NAVIGATOR_ADDR=0.0.0.0:3000 navigator
#
# (the database is then /data/navigator.db, a SQLite file in the image's
# writable /data: mount a volume there to keep it). With no registry at hand,
# the `prebuilt` target packages binaries built beforehand on the host, one
# per architecture, at target/image/<amd64|arm64>/bootstrap:
#
#   cargo lambda build --release --target aarch64-unknown-linux-musl --bin navigator
#   podman build --platform linux/arm64 --target prebuilt -t navigator:local .
#   (scripts/lambda-check.sh stages the binaries and builds both)

ARG RUST_VERSION=1.95

# --- The binary, built from source ---------------------------------------
FROM docker.io/library/rust:${RUST_VERSION}-slim-bookworm AS builder
ARG TARGETARCH
# The musl C toolchain compiles the C in the dependency tree (ring, SQLite).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# Build configuration (SQLite's compile options) and the patched sqlx-core
# that Cargo.toml's [patch] points at.
COPY .cargo ./.cargo
COPY vendor ./vendor
COPY src ./src
COPY assets ./assets
RUN case "$TARGETARCH" in \
      arm64) target=aarch64-unknown-linux-musl ;; \
      *) target=x86_64-unknown-linux-musl ;; \
    esac \
    && rustup target add "$target" \
    && cargo build --release --locked --target "$target" --bin navigator \
    && mkdir -p /out/data \
    && cp "target/$target/release/navigator" /out/bootstrap

# --- Optional build contexts (see above) -----------------------------------
FROM scratch AS secrets-extension
FROM scratch AS rds-ca

# --- What every variant shares ---------------------------------------------
FROM scratch AS base
ENV NAVIGATOR_ADDR=0.0.0.0:3000 \
    RUST_LOG=info
# Any non-root id: the image has no user database. Lambda runs images as its
# own non-root user anyway. /data is created owned by it.
USER 65532:65532
WORKDIR /data
EXPOSE 3000
ENTRYPOINT ["/bootstrap"]

# --- From binaries built on the host (offline builds, local checks) --------
FROM base AS prebuilt
ARG TARGETARCH
COPY --from=rds-ca / /opt/rds-ca/
COPY target/image/${TARGETARCH}/bootstrap /bootstrap

# --- The default: from source, with CA roots and the optional contexts -----
FROM base AS lambda
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=secrets-extension / /opt/
COPY --from=rds-ca / /opt/rds-ca/
COPY --from=builder /out/bootstrap /bootstrap
