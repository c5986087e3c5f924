FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/feedback-demo ./pkg/cmd/feedback-demo

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/feedback-demo /usr/local/bin/feedback-demo
ENV FEEDBACK_DEMO_LISTEN=0.0.0.0:9464
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/feedback-demo"]
