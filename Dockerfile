# syntax=docker/dockerfile:1
# logosd as a static, non-root image. Build: docker build -t logosd .
# The SQLite driver is pure Go, so the binary needs no C library.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# .git is part of the build context, so the go command stamps the commit
# into the binary's build information (logosd version prints it).
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/logosd ./cmd/logosd \
 && /out/logosd version \
 && mkdir -p /out/data

# distroless/static: CA certificates, tzdata and a "nonroot" user (65532),
# no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/logosd /usr/local/bin/logosd
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
ENV LOGOS_LISTEN=0.0.0.0:8080 \
    LOGOS_SQLITE_PATH=/data/logos.db
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
  CMD ["/usr/local/bin/logosd", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/logosd"]
