package h2h

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isogate/isogate/bank"
)

// endlessBody is an answer that never ends: it counts what was read.
type endlessBody struct{ read int64 }

func (b *endlessBody) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	b.read += int64(len(p))
	return len(p), nil
}

func (b *endlessBody) Close() error { return nil }

type endlessTransport struct{ body *endlessBody }

func (e endlessTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
	}
	return &http.Response{StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/xml"}}, Body: e.body, ContentLength: -1, Request: r}, nil
}

// TestStatusAnswerCap: an answer to a status query (or an upload) is read
// up to MaxStatusBytes (default 32 MiB), not MaxResponseBytes (256 MiB,
// for statements): a never-ending or 100 MB pain.002 costs at most the cap
// and is a transient error.
func TestStatusAnswerCap(t *testing.T) {
	c, err := New(validConfig())
	if err != nil {
		t.Fatal(err)
	}
	if c.cfg.MaxStatusBytes != 32<<20 || c.cfg.MaxResponseBytes != 256<<20 {
		t.Errorf("defaults: MaxStatusBytes %d, MaxResponseBytes %d; want 32 MiB, 256 MiB", c.cfg.MaxStatusBytes, c.cfg.MaxResponseBytes)
	}
	cfg := validConfig()
	cfg.MaxStatusBytes, cfg.MaxResponseBytes = 1000, 1<<20
	if c, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	body := &endlessBody{}
	c.read.Transport = endlessTransport{body}
	_, err = c.Status(t.Context(), "MSG-1")
	if !errors.Is(err, bank.ErrTransient) || !strings.Contains(err.Error(), "answer larger than 1000 bytes") {
		t.Errorf("Status with a never-ending answer = %v, want transient \"answer larger than 1000 bytes\"", err)
	}
	if body.read > 64<<10 {
		t.Errorf("read %d bytes of the answer, want about the 1000-byte cap", body.read)
	}
	// A report answer has its own, larger cap.
	c.read.Transport = endlessTransport{&endlessBody{}}
	_, err = c.Reports(t.Context(), []byte(`<Document><AcctRptgReq><GrpHdr><MsgId>Q1</MsgId></GrpHdr></AcctRptgReq></Document>`))
	if !strings.Contains(err.Error(), "answer larger than 1048576 bytes") {
		t.Errorf("Reports with a never-ending answer = %v, want \"answer larger than 1048576 bytes\"", err)
	}
	if cfg.MaxStatusBytes = -1; cfg.Validate() == nil {
		t.Error("Validate accepts a negative MaxStatusBytes")
	}
}

// receiptTransport answers every upload 202 with a receipt for the MsgId
// whose SHA-256 is not that of the bytes sent.
type receiptTransport struct{ msgID string }

func (rt receiptTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
	}
	body := `{"msg_id":"` + rt.msgID + `","received_at":"2026-11-21T10:00:00Z","sha256":"` + strings.Repeat("ab", 32) + `"}`
	return &http.Response{StatusCode: http.StatusAccepted, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)), Request: r}, nil
}

// TestReceiptForOtherBytesIsInDoubt: a receipt naming other bytes than
// those sent means the bank holds something under this MsgId that it may
// pay. That is not a final failure (the intents could be booked after
// all) but an unknown outcome, which the submitter settles with a status
// query.
func TestReceiptForOtherBytesIsInDoubt(t *testing.T) {
	c, err := New(validConfig())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join("..", "..", "xmlcodec", "testdata", "pain001_ekase.golden.xml"))
	if err != nil {
		t.Fatal(err)
	}
	file := bank.File{MsgID: "GOLDEN-1", Data: data}
	c.upload.Transport = receiptTransport{msgID: file.MsgID}
	_, err = c.Submit(t.Context(), file)
	if !errors.Is(err, bank.ErrOutcomeUnknown) || !strings.Contains(err.Error(), "bank received SHA-256") {
		t.Fatalf("Submit answered with a receipt for other bytes = %v, want outcome unknown naming the SHA-256", err)
	}
}
