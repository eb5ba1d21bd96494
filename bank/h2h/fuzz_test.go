package h2h

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/isogate/isogate/bank"
	"github.com/isogate/isogate/internal/samples"
)

// cannedTransport answers every request with one status and body, after
// reading the request body as a server would.
type cannedTransport struct {
	code int
	body []byte
}

func (c *cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	return &http.Response{StatusCode: c.code, Status: http.StatusText(c.code), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/xml"}}, Body: io.NopCloser(bytes.NewReader(c.body)),
		ContentLength: int64(len(c.body)), Request: r}, nil
}

const fuzzMsgID = "MSG-1"

var fuzzPain001 = []byte(`<?xml version="1.0" encoding="UTF-8"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"><CstmrCdtTrfInitn><GrpHdr><MsgId>` + fuzzMsgID + `</MsgId></GrpHdr></CstmrCdtTrfInitn></Document>`)

// FuzzAnswers feeds the client any answer to each request and checks the
// client's promises: an error is a *bank.Error of a known class carrying
// the status and at most 1 MiB of the body; an upload the bank may have
// taken (2xx, or 5xx after the body went out) is never Transient, so it is
// settled by a status query before anything is re-sent; a receipt is for
// the file's MsgId and bytes; a status is a pain.002 answering the MsgId
// asked for; a report is a camt.052/053/054 (nothing for 204).
func FuzzAnswers(f *testing.F) {
	sum := sha256.Sum256(fuzzPain001)
	sha := hex.EncodeToString(sum[:])
	f.Add(uint8(0), uint16(202), []byte(`{"msg_id":"MSG-1","received_at":"2026-11-21T09:30:00.123Z","sha256":"`+sha+`"}`))
	f.Add(uint8(0), uint16(200), []byte(`{"msg_id":"MSG-1","sha256":"`+strings.ToUpper(sha)+`"}`))
	f.Add(uint8(0), uint16(202), []byte(`{"msg_id":"MSG-2"}`))
	f.Add(uint8(0), uint16(500), []byte("banksim: simulated outage\n"))
	f.Add(uint8(0), uint16(409), []byte(`<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"><CstmrPmtStsRpt><GrpHdr><MsgId>S</MsgId></GrpHdr><OrgnlGrpInfAndSts><OrgnlMsgId>MSG-1</OrgnlMsgId><GrpSts>RJCT</GrpSts><StsRsnInf><Rsn><Cd>DUPL</Cd></Rsn></StsRsnInf></OrgnlGrpInfAndSts></CstmrPmtStsRpt></Document>`))
	f.Add(uint8(1), uint16(200), []byte(`<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"><CstmrPmtStsRpt><GrpHdr><MsgId>S</MsgId></GrpHdr><OrgnlGrpInfAndSts><OrgnlMsgId>MSG-1</OrgnlMsgId><GrpSts>ACSC</GrpSts></OrgnlGrpInfAndSts></CstmrPmtStsRpt></Document>`))
	f.Add(uint8(1), uint16(404), []byte("banksim: MsgId MSG-1 was never received\n"))
	f.Add(uint8(2), uint16(204), []byte(nil))
	f.Add(uint8(3), uint16(200), []byte(`{"status":"ok"}`))
	samples.Seeds(f, "", false, func(name string, data []byte) {
		op := uint8(2)
		if strings.HasPrefix(name, "pain002") {
			op = 1
		}
		f.Add(op, uint16(200), data)
	})
	cfg := validConfig()
	c, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, op uint8, code uint16, body []byte) {
		if len(body) > 1<<20 {
			t.Skip()
		}
		status := 100 + int(code)%500
		if status < 200 {
			status += 100 // 1xx is never a final answer
		}
		rt := &cannedTransport{code: status, body: body}
		c.upload.Transport, c.read.Transport = rt, rt
		ctx := t.Context()
		var (
			opName string
			err    error
		)
		switch op % 4 {
		case 0:
			opName = bank.OpSubmit
			var r bank.Receipt
			r, err = c.Submit(ctx, bank.File{MsgID: fuzzMsgID, Data: fuzzPain001})
			if err == nil && (r.MsgID != fuzzMsgID || r.SHA256 != sha || !bytes.Equal(r.Raw, body) || status/100 != 2) {
				t.Fatalf("Submit answered %d %q = %+v", status, body, r)
			}
		case 1:
			opName = bank.OpStatus
			var d bank.Document
			d, err = c.Status(ctx, fuzzMsgID)
			if err == nil {
				if _, orig, cerr := bank.CheckDocument(d.Data, "pain.002"); cerr != nil || orig != fuzzMsgID || !strings.HasPrefix(d.Message, "pain.002") || !bytes.Equal(d.Data, body) {
					t.Fatalf("Status answered %d %q = %+v (%v, %q)", status, body, d, cerr, orig)
				}
			}
		case 2:
			opName = bank.OpReports
			var docs []bank.Document
			docs, err = c.Reports(ctx, []byte(`<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.060.001.05"><AcctRptgReq><GrpHdr><MsgId>REQ-1</MsgId></GrpHdr></AcctRptgReq></Document>`))
			if err == nil {
				if status == http.StatusNoContent != (len(docs) == 0) || len(docs) > 1 {
					t.Fatalf("Reports answered %d = %d documents", status, len(docs))
				}
				for _, d := range docs {
					if !strings.HasPrefix(d.Message, "camt.05") || !bytes.Equal(d.Data, body) {
						t.Fatalf("Reports answered %d %q = %+v", status, body, d)
					}
				}
			}
		case 3:
			opName = bank.OpHealth
			err = c.Health(ctx)
			if err == nil && status/100 != 2 {
				t.Fatalf("Health answered %d = healthy", status)
			}
		}
		if err == nil {
			return
		}
		var be *bank.Error
		if !errors.As(err, &be) {
			t.Fatalf("%s error %v (%T) is not a *bank.Error", opName, err, err)
		}
		if be.Class.Err() == nil || be.Op != opName || be.Status != status || len(be.Body) > 1<<20 {
			t.Fatalf("%s answered %d: error %+v", opName, status, be)
		}
		if opName == bank.OpSubmit && (status/100 == 2 || status >= 500) && be.Class == bank.Transient {
			t.Fatalf("Submit answered %d %q: Transient, but the bank may hold the file: %v", status, body, err)
		}
	})
}
