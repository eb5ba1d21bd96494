package banksim

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"time"
)

// Handler returns the h2h HTTP mapping, with faults applied:
//
//	POST /v1/payments                 pain.001 → 202 {"msg_id","received_at","sha256"}; 400/409 with a pain.002
//	GET  /v1/payments/{msgId}/status  200 with the latest pain.002; 404 for a MsgId never received
//	POST /v1/reports                  camt.060 → 200 with a camt.052/053/054; 204 when there is nothing
//	GET  /v1/health                   200 (never faulted)
//	GET  /sim/ledger                  the [Ledger] as JSON (never faulted)
func (b *Bank) Handler() http.Handler { return b.httpHandler }

func (b *Bank) newHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
	})
	mux.HandleFunc("GET /sim/ledger", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(b.Ledger())
	})
	mux.HandleFunc("POST /v1/payments", b.faulted(true, b.handleUpload))
	mux.HandleFunc("GET /v1/payments/{msgId}/status", b.faulted(false, b.handleStatus))
	mux.HandleFunc("POST /v1/reports", b.faulted(false, b.handleReports))
	return mux
}

// A response is what a handler answers before faults are applied.
type response struct {
	code  int
	ctype string
	body  []byte
}

func textResponse(code int, msg string) response {
	return response{code: code, ctype: "text/plain; charset=utf-8", body: []byte(msg + "\n")}
}

func xmlResponse(code int, body []byte) response {
	return response{code: code, ctype: "application/xml", body: body}
}

// readXML reads a request body of at most limit bytes sent as XML.
func readXML(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *response) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/xml" && mt != "text/xml") {
			resp := textResponse(http.StatusUnsupportedMediaType, "banksim: Content-Type must be application/xml")
			return nil, &resp
		}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		resp := textResponse(http.StatusBadRequest, "banksim: reading body: "+err.Error())
		return nil, &resp
	}
	return data, nil
}

func (b *Bank) handleUpload(w http.ResponseWriter, r *http.Request) response {
	data, bad := readXML(w, r, maxUpload+1)
	if bad != nil {
		return *bad
	}
	var peer *x509.Certificate
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		peer = r.TLS.PeerCertificates[0]
	}
	res := b.upload(data, peer)
	if res.code != http.StatusAccepted {
		return xmlResponse(res.code, res.pain002)
	}
	body, _ := json.Marshal(res.receipt)
	return response{code: res.code, ctype: "application/json", body: append(body, '\n')}
}

func (b *Bank) handleStatus(w http.ResponseWriter, r *http.Request) response {
	doc, err := b.status(r.PathValue("msgId"))
	switch {
	case errors.Is(err, errUnknownMsgID):
		return textResponse(http.StatusNotFound, "banksim: MsgId "+r.PathValue("msgId")+" was never received")
	case err != nil:
		return textResponse(http.StatusInternalServerError, err.Error())
	}
	return xmlResponse(http.StatusOK, doc)
}

func (b *Bank) handleReports(w http.ResponseWriter, r *http.Request) response {
	data, bad := readXML(w, r, 1<<20)
	if bad != nil {
		return *bad
	}
	doc, err := b.report(data)
	switch {
	case errors.Is(err, errBooks):
		return textResponse(http.StatusInternalServerError, err.Error())
	case err != nil:
		return textResponse(http.StatusBadRequest, err.Error())
	case doc == nil:
		return response{code: http.StatusNoContent}
	}
	return xmlResponse(http.StatusOK, doc)
}

// decide draws the fault of one request and counts the request and its
// fault for the [Ledger].
func (b *Bank) decide(upload bool) (Fault, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, latency := b.draw(upload)
	b.requests++
	if upload {
		b.uploadRequests++
	}
	if f != "" {
		b.injected[f]++
	}
	return f, latency
}

// draw picks the fault of one request: a pending FailNext first, else one
// draw of the seeded generator against the cumulative rates, in the order
// reset, error, timeout, drop-after-accept, malformed. b.mu is held.
func (b *Bank) draw(upload bool) (Fault, time.Duration) {
	kinds := []struct {
		f    Fault
		rate float64
	}{{FaultReset, b.faults.ResetRate}, {FaultError, b.faults.ErrorRate}, {FaultTimeout, b.faults.TimeoutRate},
		{FaultDropAfterAccept, b.faults.DropAfterAcceptRate}, {FaultMalformed, b.faults.MalformedRate}}
	for _, k := range kinds {
		if k.f == FaultDropAfterAccept && !upload {
			continue
		}
		if b.failNext[k.f] > 0 {
			b.failNext[k.f]--
			return k.f, b.faults.Latency
		}
	}
	u := b.rng.Float64()
	acc := 0.0
	for _, k := range kinds {
		if k.f == FaultDropAfterAccept && !upload {
			continue
		}
		acc += k.rate
		if u < acc {
			return k.f, b.faults.Latency
		}
	}
	return "", b.faults.Latency
}

// faulted wraps a handler with the fault of the request.
func (b *Bank) faulted(upload bool, h func(http.ResponseWriter, *http.Request) response) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f, latency := b.decide(upload)
		if latency > 0 {
			t := time.NewTimer(latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			case <-b.closed:
				t.Stop()
			}
		}
		if f != "" {
			b.log.Info("fault injected", slog.String("fault", string(f)), slog.String("path", r.URL.Path))
		}
		switch f {
		case FaultReset:
			hijack(w, true)
			return
		case FaultError:
			http.Error(w, "banksim: simulated outage", http.StatusServiceUnavailable)
			return
		case FaultTimeout:
			// Read (and drop) the body first: net/http notices a client
			// that gives up only once the body is consumed, and the
			// handler must not outlive it.
			_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, maxUpload+1))
			b.held.Add(1)
			defer b.held.Add(-1)
			select {
			case <-r.Context().Done():
			case <-b.closed:
				hijack(w, true)
			}
			return
		}
		resp := h(w, r)
		switch f {
		case FaultDropAfterAccept:
			hijack(w, false)
			return
		case FaultMalformed:
			resp = malformed(resp)
		}
		if resp.ctype != "" {
			w.Header().Set("Content-Type", resp.ctype)
		}
		w.WriteHeader(resp.code)
		_, _ = w.Write(resp.body)
	}
}

// malformed truncates an answer's body in the middle; an empty answer
// (204) becomes a 200 with the start of a document.
func malformed(r response) response {
	if len(r.body) == 0 {
		return response{code: http.StatusOK, ctype: "application/xml", body: []byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<Document")}
	}
	r.body = r.body[:len(r.body)/2]
	return r
}

// hijack takes the connection from net/http and closes it without an HTTP
// response: with reset, as a TCP reset (SO_LINGER 0); else as a plain
// close. A TLS connection is closed underneath TLS (no close_notify), as a
// crashed peer or a middlebox would.
func hijack(w http.ResponseWriter, reset bool) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		// HTTP/2 or a test recorder: the closest is an aborted handler.
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	raw := conn
	if tc, ok := conn.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	if tcp, ok := raw.(*net.TCPConn); ok && reset {
		_ = tcp.SetLinger(0)
	}
	if err := raw.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		_ = conn.Close()
	}
}
