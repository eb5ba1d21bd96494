package banksim

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/isogate/isogate/certstore/vero"
)

// sign adds an enveloped signature over the whole document (URI="").
func sign(t testing.TB, doc []byte, key crypto.Signer, cert *x509.Certificate) []byte {
	t.Helper()
	d := etree.NewDocument()
	if err := d.ReadFromBytes(doc); err != nil {
		t.Fatal(err)
	}
	if err := vero.SignElement(d.Root(), key, []*x509.Certificate{cert}); err != nil {
		t.Fatal(err)
	}
	out, err := d.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSignatureOverHTTPS(t *testing.T) {
	srv, _ := startTest(t, Config{VerifySignature: true})
	c := mtlsClient(t, srv.TLS, true)
	pair, err := tls.LoadX509KeyPair(srv.TLS.ClientCert, srv.TLS.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	file := func(id string) []byte {
		return encode(t, "ekase", id, day0, pay(id+"-E", acct1, cred("HABA0012345678910"), "1.00"))
	}

	body := mustCall(t, c, "POST", srv.URL+"/v1/payments", file("SIG-0"), 400)
	validateXSD(t, body, "pain.002.001.03")
	if !contains(body, "<Cd>DS0A</Cd>") {
		t.Errorf("unsigned file: %s", body)
	}
	mustCall(t, c, "GET", srv.URL+"/v1/payments/SIG-0/status", nil, 404) // not recorded

	mustCall(t, c, "POST", srv.URL+"/v1/payments", sign(t, file("SIG-1"), pair.PrivateKey.(crypto.Signer), pair.Leaf), 202)

	// Signed by another certificate than the TLS client's.
	other, otherCert := selfSigned(t)
	if body := mustCall(t, c, "POST", srv.URL+"/v1/payments", sign(t, file("SIG-2"), other, otherCert), 400); !contains(body, "<Cd>DS0E</Cd>") {
		t.Errorf("foreign signer: %s", body)
	}
	// Changed after signing.
	signed := sign(t, file("SIG-3"), pair.PrivateKey.(crypto.Signer), pair.Leaf)
	tampered := []byte(strings.Replace(string(signed), "<InstdAmt Ccy=\"EUR\">1.00</InstdAmt>", "<InstdAmt Ccy=\"EUR\">9.00</InstdAmt>", 1))
	tampered = []byte(strings.Replace(string(tampered), "<CtrlSum>1.00</CtrlSum>", "<CtrlSum>9.00</CtrlSum>", 2))
	if body := mustCall(t, c, "POST", srv.URL+"/v1/payments", tampered, 400); !contains(body, "<Cd>DS0B</Cd>") {
		t.Errorf("tampered file: %s", body)
	}
	if l := srv.Bank.Ledger(); l.TransactionsBooked != 1 || l.UniqueMsgIDs != 1 {
		t.Errorf("ledger %+v", l)
	}
}

// selfSigned makes an RSA key and a self-signed certificate.
func selfSigned(t testing.TB) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "someone else"},
		NotBefore: day0.Add(-time.Hour), NotAfter: day0.Add(time.Hour * 24 * 365), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

// TestFolders runs the host-to-host front end: temp files ignored, a
// signed (RSA-SHA256) pain.001 processed once, pain.002 per stage, a
// camt.060 answered, everything written atomically.
func TestFolders(t *testing.T) {
	key, cert := selfSigned(t)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	clk := newClock(day0)
	b, err := NewBank(Config{Now: clk.Now, VerifySignature: true, ClientCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	out, in := t.TempDir(), t.TempDir()
	file := sign(t, encode(t, "ekase", "FD-1", day0, pay("FD-E1", acct1, cred("HABA0012345678910"), "12.34")), key, cert)
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(out, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(".FD-1.xml.tmp", file[:len(file)/2])
	write("FD-1.xml.part", file[:len(file)/3])
	write("FD-1.xml", file)
	n, err := b.ProcessFolders(out, in)
	if err != nil || n != 1 {
		t.Fatalf("ProcessFolders = %d, %v; want 1", n, err)
	}
	if _, err := os.Stat(filepath.Join(out, "FD-1.xml")); !os.IsNotExist(err) {
		t.Error("processed file left in the outbox")
	}
	if _, err := os.Stat(filepath.Join(out, "FD-1.xml.part")); err != nil {
		t.Error("a .part file was touched")
	}
	clk.Advance(time.Second)
	if n, err := b.ProcessFolders(out, in); err != nil || n != 0 {
		t.Fatalf("second pass = %d, %v", n, err)
	}
	clk.Advance(2 * time.Second)
	write("FD-1-again.xml", file) // a re-send: answered with the current status
	other := sign(t, encode(t, "ekase", "FD-1", day0, pay("FD-E9", acct1, cred("HABA0012345678910"), "1.00")), key, cert)
	write("FD-1-other.xml", other) // other bytes, same MsgId: RJCT DUPL
	if _, err := b.ProcessFolders(out, in); err != nil {
		t.Fatal(err)
	}
	clk.Advance(24 * time.Hour)
	write("REQ-1.xml", camt060(t, "ekase", "REQ-1", "camt.053", acct1, "2026-11-20", ""))
	if _, err := b.ProcessFolders(out, in); err != nil {
		t.Fatal(err)
	}
	var names []string
	ents, _ := os.ReadDir(in)
	for _, e := range ents {
		names = append(names, e.Name())
	}
	want := []string{"FD-1.ACSC.pain.002.xml", "FD-1.ACSP.pain.002.xml", "FD-1.ACTC.pain.002.xml", "FD-1.DUPL-1.pain.002.xml", "REQ-1.xml.camt.053.xml"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("inbox = %v, want %v", names, want)
	}
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(in, name))
		if err != nil {
			t.Fatal(err)
		}
		validateXSD(t, data, messageOf(t, data))
		decodeAll(t, data)
	}
	if l := b.Ledger(); l.TransactionsBooked != 1 || l.DuplicateUploads != 2 {
		t.Errorf("ledger %+v", l)
	}
}

// TestSignatureAfterRenewal checks whom the bank takes a signature from
// over HTTPS once the client has renewed its certificate: a re-send is
// byte-identical, so it carries the signature made with the certificate
// before the renewal while the TLS connection shows the new one. The old
// certificate of the same subject is taken while it is valid and issued
// by a trusted CA; another client's, an expired one and a self-made one
// with the same subject are DS0E.
func TestSignatureAfterRenewal(t *testing.T) {
	now := time.Now()
	caKey, ca, _, err := newCert(now, nil, nil, func(c *x509.Certificate) {
		c.Subject = pkix.Name{CommonName: "renewal test CA"}
		c.IsCA, c.BasicConstraintsValid, c.KeyUsage = true, true, x509.KeyUsageCertSign
	})
	if err != nil {
		t.Fatal(err)
	}
	client := pkix.Name{CommonName: "isogate", Organization: []string{"Finanšu ministrija"}}
	issue := func(subject pkix.Name, parent *x509.Certificate, edit func(*x509.Certificate)) (crypto.Signer, *x509.Certificate) {
		key, cert, _, err := newCert(now, parent, caKey, func(c *x509.Certificate) {
			c.Subject = subject
			c.KeyUsage = x509.KeyUsageDigitalSignature
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
			if edit != nil {
				edit(c)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		return key, cert
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	b, err := NewBank(Config{Now: newClock(day0).Now, VerifySignature: true, ClientCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)

	oldKey, oldCert := issue(client, ca, nil)
	_, renewed := issue(client, ca, nil)
	otherKey, otherCert := issue(pkix.Name{CommonName: "another client"}, ca, nil)
	expiredKey, expiredCert := issue(client, ca, func(c *x509.Certificate) { c.NotAfter = now.Add(-time.Minute) })
	selfKey, selfCert := issue(client, nil, nil)
	file := encode(t, "ekase", "REN-1", day0, pay("REN-E1", acct1, cred("HABA0012345678910"), "1.00"))
	cases := []struct {
		name string
		key  crypto.Signer
		cert *x509.Certificate
		want string // "" taken, else the reason code
	}{
		{"the certificate before the renewal", oldKey, oldCert, ""},
		{"another client's certificate", otherKey, otherCert, "DS0E"},
		{"the client's expired certificate", expiredKey, expiredCert, "DS0E"},
		{"a self-made certificate with the client's name", selfKey, selfCert, "DS0E"},
	}
	for _, c := range cases {
		got := b.checkSignature(sign(t, file, c.key, c.cert), renewed)
		switch {
		case c.want == "" && got != nil:
			t.Errorf("%s: refused %s %s", c.name, got.code, got.info)
		case c.want != "" && (got == nil || got.code != c.want):
			t.Errorf("%s: got %+v, want %s", c.name, got, c.want)
		}
	}
	// Signed with the certificate the connection shows: taken, as before.
	if got := b.checkSignature(sign(t, file, oldKey, oldCert), oldCert); got != nil {
		t.Errorf("signed with the TLS client's certificate: refused %s %s", got.code, got.info)
	}
}
