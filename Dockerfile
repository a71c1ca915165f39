# vtgate-lite image: a static Go binary on debian:12-slim.
#   docker build -t vtgate-lite .
#   docker run -v $PWD/deploy/vtgate-lite.yaml:/etc/vtgate-lite/vtgate-lite.yaml vtgate-lite
# docker-compose.yml runs it in front of a MySQL 8.4 primary + replica.

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so source edits do not re-download them.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/vtgate-lite ./cmd/vtgate-lite

FROM debian:12-slim
RUN apt-get update \
	&& apt-get install -y --no-install-recommends ca-certificates \
	&& rm -rf /var/lib/apt/lists/* \
	&& useradd --system --uid 10001 --home-dir /var/lib/vtgate-lite --create-home vtgate \
	&& mkdir -p /etc/vtgate-lite
COPY --from=build /out/vtgate-lite /usr/local/bin/vtgate-lite
USER vtgate
WORKDIR /var/lib/vtgate-lite
# 15306: MySQL protocol; 15000: HTTP (/metrics, status).
EXPOSE 15306 15000
ENTRYPOINT ["/usr/local/bin/vtgate-lite"]
CMD ["--config", "/etc/vtgate-lite/vtgate-lite.yaml"]
