# syntax=docker/dockerfile:1
#
# Navigator as a container image: one static (musl) binary at /bootstrap, in
# an otherwise empty image, for AWS Lambda (PackageType: Image) and for
# running the local server anywhere.
#
# On Lambda the runtime sets AWS_LAMBDA_RUNTIME_API and the binary is its own
# runtime interface client (lambda_runtime), so no AWS base image is needed;
# configure it as for the zip package (see src/lambda.rs). Lambda layers do
# not apply to images: the AWS Parameters and Secrets Lambda Extension, which
# the function asks for the database credentials, must be in the image under
# /opt/extensions. Unzip the extension's layer for your Region and
# architecture into a directory (it holds extensions/...) and pass it as the
# secrets-extension build context; without it the stage below is empty.
#
#   docker build -t navigator .                       # builds the binary in the builder stage
#   docker build --build-context secrets-extension=./layer -t navigator .
#
# Without AWS_LAMBDA_RUNTIME_API the binary serves HTTP, as `navigator serve`:
#
#   docker run -p 3000:3000 -e NAVIGATOR_ADDR=0.0.0.0:3000 navigator
#   podman run -p 3000:3000 -e NAVIGATOR_ADDR=0.0.0.0:3000 \
#     -e DATABASE_URL=postgres://user@host/navigator navigator
#
# (the default database is /data/navigator.db, a SQLite file in the image's
# writable /data: mount a volume there to keep it). With no registry at hand,
# the `prebuilt` target packages a binary built beforehand on the host:
#
#   cargo build --release --locked --target x86_64-unknown-linux-musl --bin navigator
#   podman build --target prebuilt -t navigator:local .

ARG RUST_VERSION=1.95

# --- The binary, built from source ---------------------------------------
FROM docker.io/library/rust:${RUST_VERSION}-slim-bookworm AS builder
# The musl C toolchain compiles the C in the dependency tree (ring, SQLite).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# Build configuration (SQLite's compile options) and the patched sqlx-core
# that Cargo.toml's [patch] points at.
COPY .cargo ./.cargo
COPY vendor ./vendor
COPY src ./src
COPY assets ./assets
RUN cargo build --release --locked --target x86_64-unknown-linux-musl --bin navigator \
    && mkdir -p /out/data \
    && cp target/x86_64-unknown-linux-musl/release/navigator /out/bootstrap

# --- The secrets extension: empty unless given as a build context ----------
FROM scratch AS secrets-extension

# --- What every variant shares ---------------------------------------------
FROM scratch AS base
ENV DATABASE_URL=sqlite:///data/navigator.db \
    NAVIGATOR_ADDR=0.0.0.0:3000 \
    RUST_LOG=info
# Any non-root id: the image has no user database. Lambda runs images as its
# own non-root user anyway. /data is created owned by it.
USER 65532:65532
WORKDIR /data
EXPOSE 3000
ENTRYPOINT ["/bootstrap"]

# --- From a binary built on the host (offline builds, local checks) --------
FROM base AS prebuilt
COPY target/x86_64-unknown-linux-musl/release/navigator /bootstrap

# --- The default: from source, with CA roots and the optional extension ----
FROM base AS lambda
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=secrets-extension / /opt/
COPY --from=builder /out/bootstrap /bootstrap
