package ingest

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/feedbackloop/modelfeedback/pkg/collector/otlp"
	"github.com/feedbackloop/modelfeedback/pkg/collector/spool"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// OTLP/HTTP paths (docs/otel.md).
const (
	OTLPTracesPath = "/v1/traces"
	OTLPLogsPath   = "/v1/logs"
)

// maxRejectionMessages bounds the partial-success error_message: the count
// says how many were refused, the first messages say why.
const maxRejectionMessages = 10

type otlpSignal struct {
	name   string // traces or logs, the metrics label
	decode func(body []byte, enc otlp.Encoding) (otlp.Result, error)
	answer func(rejected int64, msg string) proto.Message
}

func (h *handler) otlpSignals() map[string]otlpSignal {
	m := *h.opts.OTLP
	return map[string]otlpSignal{
		OTLPTracesPath: {name: "traces",
			decode: func(body []byte, enc otlp.Encoding) (otlp.Result, error) {
				req, err := otlp.DecodeTraces(body, enc)
				if err != nil {
					return otlp.Result{}, err
				}
				return m.Traces(req), nil
			},
			answer: func(n int64, msg string) proto.Message {
				resp := &coltracepb.ExportTraceServiceResponse{}
				if n > 0 {
					resp.PartialSuccess = &coltracepb.ExportTracePartialSuccess{RejectedSpans: n, ErrorMessage: msg}
				}
				return resp
			}},
		OTLPLogsPath: {name: "logs",
			decode: func(body []byte, enc otlp.Encoding) (otlp.Result, error) {
				req, err := otlp.DecodeLogs(body, enc)
				if err != nil {
					return otlp.Result{}, err
				}
				return m.Logs(req), nil
			},
			answer: func(n int64, msg string) proto.Message {
				resp := &collogspb.ExportLogsServiceResponse{}
				if n > 0 {
					resp.PartialSuccess = &collogspb.ExportLogsPartialSuccess{RejectedLogRecords: n, ErrorMessage: msg}
				}
				return resp
			}},
	}
}

// writeOTLP answers in the request's encoding, as OTLP/HTTP requires.
func writeOTLP(w http.ResponseWriter, code int, enc otlp.Encoding, m proto.Message) {
	var b []byte
	if enc == otlp.JSON {
		b, _ = protojson.Marshal(m)
	} else {
		b, _ = proto.Marshal(m)
	}
	w.Header().Set("Content-Type", enc.ContentType())
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// otlpFail is an OTLP/HTTP failure: a google.rpc.Status whose message says
// what is wrong, in the request's encoding.
func otlpFail(w http.ResponseWriter, code int, enc otlp.Encoding, c codes.Code, msg string) {
	writeOTLP(w, code, enc, &statuspb.Status{Code: int32(c), Message: msg})
}

// requestEncoding reads Content-Type; ok is false for anything but the two
// OTLP/HTTP encodings.
func requestEncoding(r *http.Request) (otlp.Encoding, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case err != nil:
		return otlp.JSON, false
	case mt == "application/x-protobuf":
		return otlp.Protobuf, true
	case mt == "application/json":
		return otlp.JSON, true
	}
	return otlp.JSON, false
}

// readOTLPBody reads the body, gunzipped when so encoded, up to the request
// limit of 4 MiB, which applies to the decompressed size so that a small
// compressed body cannot expand without bound.
func readOTLPBody(w http.ResponseWriter, r *http.Request) ([]byte, int, string) {
	if r.ContentLength > feedback.MaxBatchBytes {
		return nil, http.StatusRequestEntityTooLarge, "request body is " + strconv.FormatInt(r.ContentLength, 10) + " bytes, the limit is 4 MiB"
	}
	var src io.Reader = http.MaxBytesReader(w, r.Body, feedback.MaxBatchBytes)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, http.StatusBadRequest, "Content-Encoding gzip: " + err.Error()
		}
		defer zr.Close()
		src = zr
	default:
		return nil, http.StatusUnsupportedMediaType, "Content-Encoding " + strconv.Quote(enc) + " is not supported; send gzip or no encoding"
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(src, feedback.MaxBatchBytes+1))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, http.StatusRequestEntityTooLarge, "request body is over the limit of 4 MiB"
	case err != nil:
		return nil, http.StatusBadRequest, "reading the request body: " + err.Error()
	case n > feedback.MaxBatchBytes:
		return nil, http.StatusRequestEntityTooLarge, "request body is over the limit of 4 MiB once decompressed"
	}
	return buf.Bytes(), 0, ""
}

// otlpWrite is POST /v1/traces and /v1/logs: decode, map, validate, spool
// the valid events and answer 200 only once they are durable, with the
// refused ones counted and explained in partial_success.
func (h *handler) otlpWrite(w http.ResponseWriter, r *http.Request, sig otlpSignal) {
	enc, known := requestEncoding(r)
	switch h.authenticate(r) {
	case roleNone:
		w.Header().Set("WWW-Authenticate", `Bearer realm="feedbackd"`)
		otlpFail(w, http.StatusUnauthorized, enc, codes.Unauthenticated, "missing or invalid bearer token")
		return
	case roleBrowser:
		otlpFail(w, http.StatusForbidden, enc, codes.PermissionDenied, "browser tokens may only write feedback (POST /v1/feedback); OTLP needs a server token")
		return
	}
	if !known {
		otlpFail(w, http.StatusUnsupportedMediaType, enc, codes.InvalidArgument,
			"Content-Type "+strconv.Quote(r.Header.Get("Content-Type"))+" is not supported; send application/x-protobuf or application/json")
		return
	}
	body, code, msg := readOTLPBody(w, r)
	if code != 0 {
		c := codes.InvalidArgument
		if code == http.StatusRequestEntityTooLarge {
			c = codes.ResourceExhausted
		}
		otlpFail(w, code, enc, c, msg)
		return
	}
	res, err := sig.decode(body, enc)
	if err != nil {
		otlpFail(w, http.StatusBadRequest, enc, codes.InvalidArgument, err.Error())
		return
	}
	if n := len(res.Items); n > feedback.MaxBatchEvents {
		otlpFail(w, http.StatusRequestEntityTooLarge, enc, codes.ResourceExhausted,
			"too large: the request makes "+strconv.Itoa(n)+" events, the limit is 1000; export smaller batches (docs/otel.md)")
		return
	}
	rejected := res.Rejected
	events := make([]feedback.Event, len(res.Items))
	for i := range res.Items {
		events[i] = res.Items[i].Event
	}
	fa, framed := h.opts.Spool.(frameAppender)
	hdr := 0
	if framed {
		hdr = spool.FrameHeaderLen
	}
	buf, lines, _, perrs := h.prepare(events, len(body), hdr)
	defer putBuf(buf)
	if len(perrs) > 0 {
		// Refuse only the events that broke a limit once completed
		// (redaction markers, filled-in fields); the others still go in.
		bad := map[int][]feedback.FieldError{}
		for _, fe := range perrs {
			bad[fe.Index] = append(bad[fe.Index], fe)
		}
		keptLines, keptEvents := lines[:0], events[:0]
		for i := range events {
			if errs, ok := bad[i]; ok {
				rejected = append(rejected, otlp.Rejection{Where: res.Items[i].Where, Errors: errs})
				continue
			}
			keptLines, keptEvents = append(keptLines, lines[i]), append(keptEvents, events[i])
		}
		lines, events = keptLines, keptEvents
	}
	if len(lines) > 0 {
		var seq uint64
		if framed {
			seq, err = fa.AppendFrames(r.Context(), lines)
		} else {
			seq, err = h.opts.Spool.Append(r.Context(), lines)
		}
		if err != nil {
			w.Header().Set("Retry-After", strconv.Itoa(int(h.opts.RetryAfter.Seconds())))
			switch {
			case errors.Is(err, spool.ErrFull):
				otlpFail(w, http.StatusTooManyRequests, enc, codes.ResourceExhausted, "spool is full: the sinks are behind; retry later")
			case errors.Is(err, spool.ErrClosed):
				otlpFail(w, http.StatusServiceUnavailable, enc, codes.Unavailable, "shutting down; retry later")
			default:
				h.opts.Logger.Error("spool append failed", "err", err)
				otlpFail(w, http.StatusServiceUnavailable, enc, codes.Unavailable, "spool not writable")
			}
			return
		}
		h.awaitIndex(r.Context(), events, seq, len(lines))
		h.opts.Metrics.Accepted(events)
	}
	for reason, n := range res.Skipped {
		h.opts.Metrics.OTLPSkipped.WithLabelValues(sig.name, reason).Add(float64(n))
	}
	msg = ""
	if len(rejected) > 0 {
		h.opts.Metrics.OTLPRejected.WithLabelValues(sig.name).Add(float64(len(rejected)))
		msg = rejectionMessage(rejected)
		h.opts.Logger.Warn("OTLP records refused", "signal", sig.name, "refused", len(rejected), "accepted", len(lines), "first", rejected[0].Message())
	}
	writeOTLP(w, http.StatusOK, enc, sig.answer(int64(len(rejected)), msg))
}

func rejectionMessage(rs []otlp.Rejection) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(len(rs)))
	b.WriteString(" refused: ")
	for i, r := range rs {
		if i == maxRejectionMessages {
			b.WriteString("; and " + strconv.Itoa(len(rs)-i) + " more")
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(r.Message())
	}
	return b.String()
}
