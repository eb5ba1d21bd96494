package h2h

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/isogate/isogate/bank"
)

// expectContinueTimeout is how long an upload waits for "100 Continue"
// before sending the body anyway (a server that ignores the header).
const expectContinueTimeout = time.Second

// A Client is the h2h [bank.Channel]. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base *url.URL
	// upload sends pain.001 files on a fresh connection each (no
	// keep-alive): an upload that fails on a connection the server had
	// closed while idle would otherwise look like one the bank may have
	// read. read serves status, reports and health with keep-alive.
	upload, read *http.Client

	mu     sync.Mutex
	signed map[string][]byte // MsgId + SHA-256 of the unsigned file → signed bytes sent
}

var (
	_ bank.Channel       = (*Client)(nil)
	_ bank.HealthChecker = (*Client)(nil)
	_ bank.Preparer      = (*Client)(nil)
)

// New returns a client for cfg (defaults applied, then validated).
func New(cfg Config) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	base, _ := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	tlsCfg := cfg.TLS.Clone() // keeps GetClientCertificate: certstore hot reload still applies
	if tlsCfg.MinVersion == 0 {
		tlsCfg.MinVersion = tls.VersionTLS12
	}
	// One session cache for uploads and reads, keyed by the client
	// certificate as well as the server (session.go): a new connection —
	// every upload — resumes instead of a full handshake, and never as a
	// certificate that is no longer live.
	var sessions *sessionCache
	if cfg.DisableSessionResumption {
		tlsCfg.ClientSessionCache = nil
	} else {
		store := tlsCfg.ClientSessionCache // the caller's, if any, holds the sessions
		if store == nil {
			store = tls.NewLRUClientSessionCache(sessionCacheSize)
		}
		sessions = newSessionCache(store, tlsCfg)
	}
	newClient := func(upload bool) *http.Client {
		tr := &http.Transport{
			TLSClientConfig:     tlsCfg,
			TLSHandshakeTimeout: cfg.Timeout,
			DisableKeepAlives:   upload,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
			// No proxy from the environment, no HTTP/2: the bank is
			// reached directly and one request is one exchange.
			ForceAttemptHTTP2: false,
		}
		if sessions != nil {
			// Replaces the transport's own TLS dial (TLSClientConfig and
			// TLSHandshakeTimeout are then unused) with the same one plus
			// a per-connection view of the session cache.
			tr.DialTLSContext = sessions.dialTLS(tlsCfg, cfg.Timeout)
		}
		if upload {
			// With "Expect: 100-continue" the body waits for the server's
			// go-ahead (or this long): a server that refuses the request,
			// the connection or — with TLS 1.3, checked only after our
			// handshake — the client certificate does so before any byte
			// of the body is sent.
			tr.ExpectContinueTimeout = expectContinueTimeout
		}
		return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a redirect is an answer (Permanent), never followed
		}}
	}
	return &Client{cfg: cfg, base: base, upload: newClient(true), read: newClient(false), signed: map[string][]byte{}}, nil
}

// Close releases idle connections.
func (c *Client) Close() error {
	c.upload.CloseIdleConnections()
	c.read.CloseIdleConnections()
	return nil
}

func (c *Client) url(path string) string { return c.base.String() + path }

// countingBody reports whether the transport took any byte of the body.
type countingBody struct {
	r    *bytes.Reader
	read atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read.Add(int64(n))
	return n, err
}

func (b *countingBody) Close() error { return nil }

// exchange is one request and its answer.
type exchange struct {
	code     int
	body     []byte
	readErr  error // reading the answer failed (after the status line)
	bodySent bool
}

// do sends one request; expect asks for "100 Continue" before the body.
// An answer longer than limit bytes is read no further (readErr).
func (c *Client) do(ctx context.Context, hc *http.Client, method, path string, body []byte, expect bool, limit int64) (exchange, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.url(path), nil)
	if err != nil {
		return exchange{}, err
	}
	var cb *countingBody
	if body != nil {
		// ContentLength set: the transport reads the body only while
		// writing it to the connection (no probe read before dialling),
		// and without GetBody it never replays it on another connection.
		cb = &countingBody{r: bytes.NewReader(body)}
		req.Body, req.ContentLength = cb, int64(len(body))
		req.Header.Set("Content-Type", c.cfg.ContentType)
		if expect {
			req.Header.Set("Expect", "100-continue")
		}
	}
	req.Header.Set("Accept", c.cfg.ContentType+", application/json")
	resp, err := hc.Do(req)
	x := exchange{bodySent: cb != nil && cb.read.Load() > 0}
	if err != nil {
		return x, err
	}
	defer resp.Body.Close()
	x.code = resp.StatusCode
	x.body, x.readErr = io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if x.readErr == nil && int64(len(x.body)) > limit {
		x.readErr = fmt.Errorf("answer larger than %d bytes", limit)
	}
	return x, nil
}

// capBody keeps at most 1 MiB of an answer in an error.
func capBody(b []byte) []byte {
	if len(b) > 1<<20 {
		return b[:1<<20]
	}
	return b
}

func fail(op, msgID string, class bank.Class, x exchange, err error) *bank.Error {
	if x.code >= 400 && len(x.body) > 0 {
		if why := bank.Reasons(x.body); why != "" {
			err = fmt.Errorf("%w: %s", err, why)
		}
	}
	return &bank.Error{Op: op, MsgID: msgID, Class: class, Status: x.code, Body: capBody(x.body), Err: err}
}

// receipt is the JSON answer to an accepted upload.
type receipt struct {
	MsgID      string `json:"msg_id"`
	ReceivedAt string `json:"received_at"`
	SHA256     string `json:"sha256"`
}

// Submit uploads file (signed first with sign: xmldsig). See the package
// documentation for the classes of its errors.
func (c *Client) Submit(ctx context.Context, file bank.File) (bank.Receipt, error) {
	if file.MsgID == "" || len(file.Data) == 0 {
		return bank.Receipt{}, &bank.Error{Op: bank.OpSubmit, MsgID: file.MsgID, Class: bank.Permanent, Err: errors.New("file without MsgId or data")}
	}
	if got := bank.RequestMsgID(file.Data); got != file.MsgID {
		return bank.Receipt{}, &bank.Error{Op: bank.OpSubmit, MsgID: file.MsgID, Class: bank.Permanent, Err: fmt.Errorf("document's GrpHdr/MsgId is %q", got)}
	}
	data, err := c.prepare(file)
	if err != nil {
		return bank.Receipt{}, err
	}
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	x, err := c.do(ctx, c.upload, methodSubmit, c.cfg.Paths.Submit, data, true, c.cfg.MaxStatusBytes)
	if err == nil && x.code == http.StatusExpectationFailed && !x.bodySent {
		// A server (or proxy) that does not do "Expect: 100-continue"
		// refused it before reading anything: send plainly.
		x, err = c.do(ctx, c.upload, methodSubmit, c.cfg.Paths.Submit, data, false, c.cfg.MaxStatusBytes)
	}
	if err != nil {
		sent := x.bodySent && !refusedCertificate(err)
		return bank.Receipt{}, fail(bank.OpSubmit, file.MsgID, transportClass(bank.OpSubmit, sent), x, fmt.Errorf("uploading: %w", err))
	}
	if class := submitClass(x.code, x.bodySent); class != 0 {
		if class == bank.Permanent {
			c.forget(file)
		}
		return bank.Receipt{}, fail(bank.OpSubmit, file.MsgID, class, x, fmt.Errorf("bank answered %s", http.StatusText(x.code)))
	}
	// Accepted: from here on, anything we cannot read means the bank may
	// well have the file.
	if x.readErr != nil {
		return bank.Receipt{}, fail(bank.OpSubmit, file.MsgID, bank.OutcomeUnknown, x, fmt.Errorf("reading the receipt: %w", x.readErr))
	}
	var r receipt
	if err := json.Unmarshal(x.body, &r); err != nil {
		return bank.Receipt{}, fail(bank.OpSubmit, file.MsgID, bank.OutcomeUnknown, x, fmt.Errorf("decoding the receipt: %w", err))
	}
	if r.MsgID != file.MsgID {
		return bank.Receipt{}, fail(bank.OpSubmit, file.MsgID, bank.OutcomeUnknown, x, fmt.Errorf("receipt for MsgId %q", r.MsgID))
	}
	if r.SHA256 != "" && !strings.EqualFold(r.SHA256, want) {
		// The bank holds other bytes under this MsgId, and may pay them:
		// not a failure the gateway may report as final (the intents
		// could be booked after all) but an outcome to establish. In
		// doubt, the status query follows what the bank does with the
		// MsgId; the reason, kept on the batch and in pay.batch.in_doubt,
		// tells an operator to look.
		return bank.Receipt{}, fail(bank.OpSubmit, file.MsgID, bank.OutcomeUnknown, x, fmt.Errorf("bank received SHA-256 %s, sent %s", r.SHA256, want))
	}
	at := time.Now().UTC()
	if r.ReceivedAt != "" {
		if at, err = time.Parse(time.RFC3339Nano, r.ReceivedAt); err != nil {
			return bank.Receipt{}, fail(bank.OpSubmit, file.MsgID, bank.OutcomeUnknown, x, fmt.Errorf("receipt received_at: %w", err))
		}
	}
	c.forget(file)
	return bank.Receipt{MsgID: file.MsgID, ReceivedAt: at, SHA256: want, Raw: x.body}, nil
}

// Status returns the bank's latest pain.002 for msgID.
func (c *Client) Status(ctx context.Context, msgID string) (bank.Document, error) {
	if msgID == "" {
		return bank.Document{}, &bank.Error{Op: bank.OpStatus, Class: bank.Permanent, Err: errors.New("empty MsgId")}
	}
	path := strings.ReplaceAll(c.cfg.Paths.Status, "{msgId}", url.PathEscape(msgID))
	x, err := c.do(ctx, c.read, methodStatus, path, nil, false, c.cfg.MaxStatusBytes)
	if err != nil {
		return bank.Document{}, fail(bank.OpStatus, msgID, transportClass(bank.OpStatus, false), x, fmt.Errorf("querying status: %w", err))
	}
	if class := statusClass(x.code); class != 0 {
		return bank.Document{}, fail(bank.OpStatus, msgID, class, x, fmt.Errorf("bank answered %s", http.StatusText(x.code)))
	}
	if x.readErr != nil {
		return bank.Document{}, fail(bank.OpStatus, msgID, bank.Transient, x, fmt.Errorf("reading the pain.002: %w", x.readErr))
	}
	info, orig, statuses, err := bank.CheckStatusDocument(x.body)
	if err != nil {
		return bank.Document{}, fail(bank.OpStatus, msgID, bank.Transient, x, err)
	}
	if orig != msgID {
		return bank.Document{}, fail(bank.OpStatus, msgID, bank.Permanent, x, fmt.Errorf("pain.002 answers OrgnlMsgId %q", orig))
	}
	return bank.Document{Message: info.Message, Name: path, Data: x.body, Statuses: statuses}, nil
}

// Reports posts the camt.060 and returns the camt document of the answer
// (none for 204).
func (c *Client) Reports(ctx context.Context, camt060 []byte) ([]bank.Document, error) {
	msgID := bank.RequestMsgID(camt060)
	if len(camt060) == 0 {
		return nil, &bank.Error{Op: bank.OpReports, Class: bank.Permanent, Err: errors.New("empty camt.060")}
	}
	x, err := c.do(ctx, c.read, methodReports, c.cfg.Paths.Reports, camt060, false, c.cfg.MaxResponseBytes)
	if err != nil {
		return nil, fail(bank.OpReports, msgID, transportClass(bank.OpReports, x.bodySent), x, fmt.Errorf("requesting reports: %w", err))
	}
	if class := reportsClass(x.code); class != 0 {
		return nil, fail(bank.OpReports, msgID, class, x, fmt.Errorf("bank answered %s", http.StatusText(x.code)))
	}
	if x.readErr != nil {
		return nil, fail(bank.OpReports, msgID, bank.Transient, x, fmt.Errorf("reading the report: %w", x.readErr))
	}
	if x.code == http.StatusNoContent {
		return nil, nil
	}
	info, _, err := bank.CheckDocument(x.body, "camt.052", "camt.053", "camt.054")
	if err != nil {
		return nil, fail(bank.OpReports, msgID, bank.Transient, x, err)
	}
	return []bank.Document{{Message: info.Message, Name: c.cfg.Paths.Reports, Data: x.body}}, nil
}

// Health asks the bank's health endpoint; nil means 2xx.
func (c *Client) Health(ctx context.Context) error {
	x, err := c.do(ctx, c.read, methodHealth, c.cfg.Paths.Health, nil, false, c.cfg.MaxStatusBytes)
	if err != nil {
		return fail(bank.OpHealth, "", bank.Transient, x, fmt.Errorf("checking health: %w", err))
	}
	if class := healthClass(x.code); class != 0 {
		return fail(bank.OpHealth, "", class, x, fmt.Errorf("bank answered %s", http.StatusText(x.code)))
	}
	return nil
}
