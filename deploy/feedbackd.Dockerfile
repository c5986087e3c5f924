FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/feedbackd ./pkg/cmd/feedbackd && mkdir -p /out/spool

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/feedbackd /usr/local/bin/feedbackd
# A named volume mounted here starts as a copy of this directory, so owning
# it here is what lets the non-root process write its spool.
COPY --from=build --chown=65532:65532 /out/spool /var/lib/feedbackd
ENV FEEDBACKD_LISTEN=0.0.0.0:8787 \
    FEEDBACKD_SPOOL_DIR=/var/lib/feedbackd
EXPOSE 8787
ENTRYPOINT ["/usr/local/bin/feedbackd"]
