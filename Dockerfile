# capsim in a container: a static binary on a distroless base, run as a non-root user.
#
#   docker build -t capsim:0.1.0 .
#   docker run --rm -v "$PWD/scenarios:/scenarios:ro" capsim:0.1.0 validate /scenarios/quickstart.yaml
#
# docs/deploy.md shows how to push it and run a sweep as a Kubernetes Indexed Job with it.

# Build stage: the Rust version is Cargo.toml's rust-version (tests/deploy.rs checks it).
FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
# crt-static links glibc statically: the binary needs no shared library at all, so the runtime
# image can be distroless/static (no libc, no shell). capsim does no DNS or locale lookups, the
# glibc functions that static linking cannot serve.
ENV RUSTFLAGS="-C target-feature=+crt-static"
# The release profile keeps line tables for profiling (40 MB); the image needs none (7.3 MB).
ENV CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=symbols
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin capsim --target x86_64-unknown-linux-gnu \
    && cp target/x86_64-unknown-linux-gnu/release/capsim /capsim

# Runtime stage: the binary and the licence of the font embedded in it, nothing else.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /capsim /usr/local/bin/capsim
COPY assets/fonts/LICENSE-DejaVu.txt /usr/share/doc/capsim/LICENSE-DejaVu.txt
# UID 65532 ("nonroot"); its home is the working directory, so the default results/ is writable.
USER 65532:65532
WORKDIR /home/nonroot
ENTRYPOINT ["/usr/local/bin/capsim"]
CMD ["--help"]
