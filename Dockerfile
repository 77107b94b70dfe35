# activation-service: two stages, both debian:bookworm-slim.
#
#   podman build --format docker -t activation-service .    (or docker build)
#   podman run --rm -p 50051:50051 -p 8080:8080 -p 9464:9464 activation-service
#
# The build stage installs the -dev packages, runs the same CMake build as
# scripts/test.sh (Release; kernels chosen at run time, so the binaries run
# on any x86-64 CPU) and the core unit tests. The runtime stage carries only
# the shared libraries (libssl-dev's unversioned ones not among them) and the
# two binaries, and runs as a non-root user.

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build ca-certificates \
      libabsl-dev libtbb-dev libgrpc++-dev protobuf-compiler \
      protobuf-compiler-grpc libprotobuf-dev grpc-proto prometheus-cpp-dev \
      libcivetweb-dev libssl-dev rapidjson-dev \
      libgtest-dev libgmock-dev \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
ARG GIT_SHA=unknown
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DACTIVATION_BUILD_BENCHMARKS=OFF -DACTIVATION_GIT_SHA="${GIT_SHA}" \
 && cmake --build /build -j"$(nproc)" --target activation_server \
      activation_client dtype_test engine_test relu_golden_test \
      relu_kernels_test relu_property_test \
 && for t in dtype_test engine_test relu_golden_test relu_kernels_test \
             relu_property_test; do /build/tests/core/$t --gtest_brief=1 || exit 1; done

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libabsl20220623 libc-ares2 libcivetweb1 libgrpc++1.51 libgrpc29 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libprotobuf32 \
      libre2-9 libssl3 libtbb12 libtcmalloc-minimal4 \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin \
      activation
COPY --from=build /build/server/activation_server /build/client/activation_client \
     /usr/local/bin/
# libssl.so and libcrypto.so for civetweb's HTTPS on OpenSSL 3
# (server/openssl_compat), where activation_server's RUNPATH finds them:
# $ORIGIN/../lib/openssl_compat. Not in ld.so.cache: nothing else gets them.
COPY --from=build /build/lib/openssl_compat/libssl.so \
     /build/lib/openssl_compat/libcrypto.so /usr/local/lib/openssl_compat/
USER 10001
EXPOSE 50051 8080 9464
# Where activation_client (and so the HEALTHCHECK) looks for the server; set
# it with -e when --address changes.
ENV ACTIVATION_TARGET=127.0.0.1:50051
# gperftools' tcmalloc instead of glibc's malloc: up to 1.16x the calls/s
# (docs/BENCHMARKS.md, "Allocator").
ENV LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4

# SIGTERM drains: health turns NOT_SERVING, in-flight calls get
# --shutdown_grace (20 s by default), then the server exits 0.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["activation_client", "--deadline=2s", "health"]
ENTRYPOINT ["activation_server"]
CMD ["--address=0.0.0.0:50051", "--http_address=0.0.0.0:8080", \
     "--metrics_address=0.0.0.0:9464"]
