package banksim

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/isogate/isogate/internal/samples"
	"github.com/isogate/isogate/xmlcodec"
)

// addBankSeeds adds the files of ../shared/iso20022/samples whose name
// starts with prefix (files over 1 MiB skipped; a missing folder is
// skipped locally and fails in CI) and xmlcodec's golden files containing
// prefix.
func addBankSeeds(f *testing.F, prefix string) {
	f.Helper()
	samples.Seeds(f, prefix, true, func(_ string, data []byte) { f.Add(data) })
}

// FuzzParseCamt060: a report request is refused with an error matching
// ErrBadRequest, or it yields at least one request, all of one family
// (camt.052/053/054), each with an account and a period of at most
// maxReportDays days, and a MsgId that is "" or Max35Text.
func FuzzParseCamt060(f *testing.F) {
	addBankSeeds(f, "camt060")
	for _, p := range []string{"ekase", "iso2019"} {
		f.Add(camt060(f, p, "REQ-1", "camt.053", acct1, "2026-11-01", "2026-11-20"))
		f.Add(camt060(f, p, "REQ 2", "camt.052.001.02", "ACC-1", "2026-11-20", ""))
	}
	f.Add([]byte(`<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.060.001.03"><AcctRptgReq><GrpHdr><MsgId>R</MsgId></GrpHdr><RptgReq><ReqdMsgNmId>camt.054</ReqdMsgNmId><Acct><Id><IBAN>X</IBAN></Id></Acct><RptgPrd><FrToDt><FrDt>2025-01-01</FrDt><ToDt>2026-02-04</ToDt></FrToDt></RptgPrd></RptgReq><RptgReq><ReqdMsgNmId>camt.053</ReqdMsgNmId></RptgReq></AcctRptgReq></Document>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			t.Skip()
		}
		reqs, reqID, err := parseCamt060(data)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("parseCamt060 error %v does not match ErrBadRequest", err)
			}
			return
		}
		if len(reqs) == 0 || reqID != "" && !max35.MatchString(reqID) {
			t.Fatalf("parseCamt060 = %d requests, MsgId %q", len(reqs), reqID)
		}
		for _, r := range reqs {
			if r.family != reqs[0].family || !strings.HasPrefix(r.family, "camt.05") || r.iban == "" || r.to.Before(r.from) ||
				r.to.Sub(r.from) > maxReportDays*24*time.Hour {
				t.Fatalf("parseCamt060 accepted %+v", r)
			}
		}
	})
}

// FuzzCamt060RoundTrip: a request xmlcodec encodes is read back by the
// bank as asked (family, account, period).
func FuzzCamt060RoundTrip(f *testing.F) {
	f.Add(true, "camt.053", acct1, "2026-11-01", "2026-11-20")
	f.Add(false, "camt.052.001.08", "ACC 1", "2026-11-20", "")
	f.Add(true, "camt.054", "LV00TREL", "2024-02-29", "2025-04-03")
	profiles := map[bool]*xmlcodec.Profile{}
	for iso, name := range map[bool]string{false: "ekase", true: "iso2019"} {
		p, err := xmlcodec.LookupProfile(name)
		if err != nil {
			f.Fatal(err)
		}
		profiles[iso] = p
	}
	f.Fuzz(func(t *testing.T, iso bool, family, account, from, to string) {
		doc, err := profiles[iso].EncodeCamt060(xmlcodec.Camt060Request{MsgID: "REQ-1", Now: func() time.Time { return day0 },
			Requests: []xmlcodec.ReportRequest{{Message: family, Account: account, FromDate: from, ToDate: to}}})
		if err != nil {
			return
		}
		reqs, reqID, err := parseCamt060(doc)
		if err != nil {
			if strings.Contains(err.Error(), "more than") {
				return // the bank's own limit on the period
			}
			t.Fatalf("the bank refuses an encoded camt.060: %v\n%s", err, doc)
		}
		want := first(to, from)
		if len(reqs) != 1 || reqID != "REQ-1" || reqs[0].family != family[:8] || reqs[0].iban != account ||
			reqs[0].from.Format(time.DateOnly) != from || reqs[0].to.Format(time.DateOnly) != want {
			t.Fatalf("encoded %q %q %q..%q, the bank read %+v (%q)\n%s", family, account, from, to, reqs, reqID, doc)
		}
	})
}

// FuzzUpload: a fresh bank answers any upload with 202 and a receipt for
// the bytes, or 400 with a pain.002 rejecting the group; a 202 file sent
// again is a 409 duplicate and books nothing more (invariant 2: nothing
// is paid twice).
func FuzzUpload(f *testing.F) {
	addBankSeeds(f, "pain001")
	rjct := pay("UP-E2", acct1, cred("HABA0012345678911"), "5.00")
	rjct.Remittance = "SIMRJCT:AC01 on request"
	f.Add(encode(f, "ekase", "UP-1", day0, pay("UP-E1", acct1, cred("HABA0012345678910"), "10.00"), rjct))
	f.Add(encode(f, "ekase", "UP-2", day0, pay("UP-E1", acct1, cred("HABA0012345678910"), "1000000000.01")))
	f.Add(encode(f, "iso2019", "UP-3", day0, pay("UP-E1", acct2, cred("HABA0012345678910"), "0.01")))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			t.Skip()
		}
		b := coreBank(t)
		res := b.upload(data, nil)
		switch res.code {
		case 202:
			sum := sha256.Sum256(data)
			if res.receipt.MsgID != res.msgID || res.receipt.SHA256 != hex.EncodeToString(sum[:]) || !max35.MatchString(res.msgID) {
				t.Fatalf("receipt %+v for MsgId %q", res.receipt, res.msgID)
			}
			booked := b.Ledger().TransactionsBooked
			again := b.upload(data, nil)
			if again.code != 409 {
				t.Fatalf("the same file again = %d, want 409", again.code)
			}
			checkRejection(t, again.pain002, res.msgID, "DUPL")
			if l := b.Ledger(); l.TransactionsBooked != booked || l.UniqueMsgIDs != 1 {
				t.Fatalf("a duplicate upload changed the ledger: %+v", l)
			}
		case 400:
			checkRejection(t, res.pain002, res.msgID, "")
		default:
			t.Fatalf("upload = %d", res.code)
		}
	})
}

// checkRejection decodes a pain.002 the bank wrote: RJCT for msgID, with
// a reason (code when given).
func checkRejection(t *testing.T, doc []byte, msgID, code string) {
	t.Helper()
	d := xmlcodec.NewDecoder(bytes.NewReader(doc), xmlcodec.Limits{})
	rec, err := d.Next()
	s, ok := rec.(*xmlcodec.Status)
	if err != nil || !ok {
		t.Fatalf("the bank's pain.002 does not decode: %v\n%s", err, doc)
	}
	if s.GroupStatus != xmlcodec.StatusRJCT || s.OriginalMsgID != msgID || len(s.GroupReasons) == 0 ||
		code != "" && s.GroupReasons[0].Code != code {
		t.Fatalf("pain.002 %+v, want RJCT %s for %q", s, code, msgID)
	}
	for {
		if _, err := d.Next(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("the bank's pain.002 does not decode: %v\n%s", err, doc)
		}
	}
}

// FuzzCheckSignature: a file's signature holds only for the content that
// was signed — whatever else the bytes say, an accepted file reads as the
// signed pain.001 (same MsgId, payments and amounts) — and a refusal has
// one of the signature reason codes.
func FuzzCheckSignature(f *testing.F) {
	key, cert := selfSigned(f)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	file := encode(f, "ekase", "SIG-1", day0, pay("SIG-E1", acct1, cred("HABA0012345678910"), "12.34"),
		pay("SIG-E2", acct1, cred("HABA0012345678911"), "0.66"))
	signed := sign(f, file, key, cert)
	want, err := xmlcodec.ReadPain001(bytes.NewReader(file), xmlcodec.Limits{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	f.Add(file)
	f.Add(bytes.Replace(signed, []byte("12.34</InstdAmt>"), []byte("1<!---->2.34</InstdAmt>"), 1))
	f.Add(bytes.Replace(signed, []byte("<MsgId>SIG-1</MsgId>"), []byte("<MsgId>SIG-1<!-- x -->9</MsgId>"), 1))
	b, err := NewBank(Config{Now: newClock(day0).Now, VerifySignature: true, ClientCAs: pool})
	if err != nil {
		f.Fatal(err)
	}
	if r := b.checkSignature(signed, nil); r != nil {
		f.Fatalf("checkSignature(signed file) = %+v", r) // the property would be vacuous
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			t.Skip()
		}
		r := b.checkSignature(data, nil)
		if r != nil {
			switch r.code {
			case "FF01", "DS0A", "DS0B", "DS0E":
			default:
				t.Fatalf("checkSignature = %+v", r)
			}
			return
		}
		got, err := xmlcodec.ReadPain001(bytes.NewReader(data), xmlcodec.Limits{})
		if err != nil {
			return // signed, but not a pain.001 the bank reads: refused later (FF01)
		}
		if got.MsgID != want.MsgID || got.NbOfTxs != want.NbOfTxs || got.CtrlSum != want.CtrlSum || !reflect.DeepEqual(got.Payments, want.Payments) {
			t.Fatalf("signature holds for content that was not signed: %+v\n%s", got, data)
		}
	})
}
