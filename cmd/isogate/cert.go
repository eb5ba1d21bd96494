package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/isogate/isogate/certstore"
	"github.com/isogate/isogate/certstore/vero"
)

func init() {
	register(command{Name: "cert", Summary: "manage client certificates: import, status, csr, enroll, renew, rollback", Run: runCert})
}

const certUsage = `usage: isogate cert SUBCOMMAND [flags]

subcommands:
  import    import a certificate and key (PEM files or a .p12)
  status    show every certificate of the store (--json for JSON)
  csr       generate a new key and a PKCS#10 request (kept as the pending key)
  enroll    get a first certificate from the Vero certificate service
  renew     renew a certificate through the Vero certificate service
  rollback  serve the previous certificate again

Every subcommand takes --store DIR; all but status take --org ID --env test|production --purpose NAME.
Environment: ISOGATE_CERT_STORE (default --store), ISOGATE_KEY_PASSPHRASE (or --passphrase-file /
ISOGATE_KEY_PASSPHRASE_FILE) encrypts keys at rest, ISOGATE_PKCS12_PASSWORD for import,
ISOGATE_TRANSFER_PASSWORD for enroll.
`

func runCert(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(env.Stderr, certUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	sub := map[string]func(context.Context, *cliEnv, []string) int{
		"import":   runCertImport,
		"status":   runCertStatus,
		"csr":      runCertCSR,
		"enroll":   runCertEnroll,
		"renew":    runCertRenew,
		"rollback": runCertRollback,
	}[args[0]]
	if sub == nil {
		fmt.Fprintf(env.Stderr, "isogate cert: unknown subcommand %q\n\n%s", args[0], certUsage)
		return 2
	}
	return sub(ctx, env, args[1:])
}

// certFlags are the flags every cert subcommand shares.
type certFlags struct {
	store          string
	org, env, purp string
	insecurePlain  bool
	passphraseFile string
}

func (f *certFlags) register(fs *flag.FlagSet, env *cliEnv, withRef bool) {
	def := env.Getenv("ISOGATE_CERT_STORE")
	if def == "" {
		def = "data/certs"
	}
	fs.StringVar(&f.store, "store", def, "certificate store `DIR` (env ISOGATE_CERT_STORE)")
	fs.StringVar(&f.passphraseFile, "passphrase-file", env.Getenv("ISOGATE_KEY_PASSPHRASE_FILE"), "read the key passphrase from `FILE` instead of ISOGATE_KEY_PASSPHRASE")
	fs.BoolVar(&f.insecurePlain, "insecure-plain-key", false, "allow unencrypted private keys on disk (never in production)")
	if withRef {
		fs.StringVar(&f.org, "org", "", "organisation `ID` (for Vero: the business id)")
		fs.StringVar(&f.env, "env", "", "environment: test or production")
		fs.StringVar(&f.purp, "purpose", "", "certificate purpose `NAME`, e.g. ekase or vero")
	}
}

func (f *certFlags) ref() (certstore.Ref, error) {
	r := certstore.Ref{Org: f.org, Env: f.env, Purpose: f.purp}
	return r, r.Validate()
}

func (f *certFlags) open(env *cliEnv, now func() time.Time) (*certstore.Store, error) {
	pass := []byte(env.Getenv("ISOGATE_KEY_PASSPHRASE"))
	if f.passphraseFile != "" {
		b, err := os.ReadFile(f.passphraseFile)
		if err != nil {
			return nil, fmt.Errorf("reading passphrase file: %w", err)
		}
		pass = bytes.TrimRight(b, "\r\n")
		if len(pass) == 0 {
			return nil, fmt.Errorf("passphrase file %s is empty", f.passphraseFile)
		}
	}
	return certstore.Open(certstore.Options{Dir: f.store, Passphrase: pass, AllowPlainKey: f.insecurePlain, Now: now,
		Logger: slog.New(slog.NewTextHandler(env.Stderr, nil))})
}

// certNow is the clock of the cert commands; tests replace it.
var certNow = time.Now

func certFail(env *cliEnv, sub string, err error) int {
	fmt.Fprintf(env.Stderr, "isogate cert %s: %v\n", sub, err)
	return 1
}

func runCertImport(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("cert import", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "usage: isogate cert import --store DIR --org ID --env test|production --purpose NAME FILE...")
		fmt.Fprintln(env.Stderr, "FILE: PEM (certificate, chain, key in one or several files) or PKCS#12 (.p12/.pfx).")
		fmt.Fprintln(env.Stderr, "ISOGATE_PKCS12_PASSWORD decrypts the .p12 or an encrypted PEM key. A certificate without a key")
		fmt.Fprintln(env.Stderr, "is paired with the pending key from 'isogate cert csr'.")
		fs.PrintDefaults()
	}
	var cf certFlags
	cf.register(fs, env, true)
	files, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(files) == 0 {
		fs.Usage()
		return 2
	}
	ref, err := cf.ref()
	if err != nil {
		return certFail(env, "import", err)
	}
	store, err := cf.open(env, certNow)
	if err != nil {
		return certFail(env, "import", err)
	}
	password := env.Getenv("ISOGATE_PKCS12_PASSWORD")
	var (
		pair    *certstore.Pair
		pemData []byte
	)
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			return certFail(env, "import", err)
		}
		lower := strings.ToLower(name)
		if strings.HasSuffix(lower, ".p12") || strings.HasSuffix(lower, ".pfx") || certstore.IsPKCS12(data) {
			if len(files) != 1 {
				return certFail(env, "import", errors.New("a PKCS#12 file is imported on its own"))
			}
			if pair, err = certstore.ParsePKCS12(data, password); err != nil {
				return certFail(env, "import", fmt.Errorf("%s: %w", name, err))
			}
			break
		}
		pemData = append(append(pemData, data...), '\n')
	}
	usedPending := false
	if pair == nil {
		pair, err = certstore.ParsePEM(pemData, []byte(password))
		if errors.Is(err, certstore.ErrNoKey) {
			pair, err = withPendingKey(store, ref, pemData)
			usedPending = err == nil
		}
		if err != nil {
			return certFail(env, "import", err)
		}
	}
	if err := store.Import(ref, pair); err != nil {
		return certFail(env, "import", err)
	}
	if usedPending {
		if err := clearPendingLocked(store, ref); err != nil {
			return certFail(env, "import", err)
		}
	}
	fmt.Fprintf(env.Stdout, "imported %s (serial %s, issuer %s) valid until %s into %s\n",
		pair.Subject(), pair.Cert.SerialNumber.Text(16), pair.Cert.Issuer, pair.Cert.NotAfter.UTC().Format(time.RFC3339), ref)
	return 0
}

// withPendingKey pairs the certificates in pemData with the pending key of
// ref (the certificate was issued for our CSR).
func withPendingKey(store *certstore.Store, ref certstore.Ref, pemData []byte) (*certstore.Pair, error) {
	key, err := store.PendingKey(ref)
	if errors.Is(err, certstore.ErrNotFound) {
		return nil, fmt.Errorf("%w, and %s has no pending key from 'isogate cert csr'", certstore.ErrNoKey, ref)
	}
	if err != nil {
		return nil, err
	}
	certs, err := certstore.ParseCertificatesPEM(pemData)
	if err != nil {
		return nil, err
	}
	return certstore.NewPair(certs, key), nil
}

func clearPendingLocked(store *certstore.Store, ref certstore.Ref) error {
	unlock, err := store.Lock(ref)
	if err != nil {
		return err
	}
	defer unlock()
	return store.ClearPending(ref)
}

func runCertStatus(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("cert status", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	var cf certFlags
	cf.register(fs, env, false)
	asJSON := fs.Bool("json", false, "print JSON (a list of objects)")
	renewBefore := fs.Duration("renew-before", certstore.DefaultRenewBefore, "renewal window before expiry")
	if _, err := parseFlags(fs, args); err != nil {
		return flagExit(err)
	}
	store, err := cf.open(env, certNow)
	if err != nil {
		return certFail(env, "status", err)
	}
	refs, err := store.Refs()
	if err != nil {
		return certFail(env, "status", err)
	}
	list := []certstore.Status{}
	var errs []error
	for _, ref := range refs {
		st, err := store.Status(ref, *renewBefore)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		list = append(list, st)
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(list); err != nil {
			return certFail(env, "status", err)
		}
	} else {
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ORG\tENV\tPURPOSE\tSUBJECT\tISSUER\tNOT AFTER\tDAYS LEFT\tSTATE")
		for _, s := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", s.Org, s.Env, s.Purpose, s.Subject, s.Issuer,
				s.NotAfter.Format(time.RFC3339), s.DaysLeft, s.State)
		}
		tw.Flush()
		for _, s := range list {
			if s.Detail != "" {
				fmt.Fprintf(env.Stdout, "%s/%s/%s: %s\n", s.Org, s.Env, s.Purpose, s.Detail)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return certFail(env, "status", err)
	}
	return 0
}

func runCertCSR(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("cert csr", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	var cf certFlags
	cf.register(fs, env, true)
	subject := fs.String("subject", "", `subject, e.g. "CN=1234567-8,O=Example Oy,C=FI" (Vero: CN = business id)`)
	keyAlg := fs.String("key", string(certstore.RSA2048), "key: rsa2048, rsa3072, rsa4096 or ecdsa-p256")
	out := fs.String("out", "-", "write the PEM CSR to `FILE` (- for stdout)")
	if _, err := parseFlags(fs, args); err != nil {
		return flagExit(err)
	}
	ref, err := cf.ref()
	if err != nil {
		return certFail(env, "csr", err)
	}
	if *subject == "" {
		return certFail(env, "csr", errors.New("--subject is required"))
	}
	name, err := certstore.ParseSubject(*subject)
	if err != nil {
		return certFail(env, "csr", err)
	}
	store, err := cf.open(env, certNow)
	if err != nil {
		return certFail(env, "csr", err)
	}
	unlock, err := store.Lock(ref)
	if err != nil {
		return certFail(env, "csr", err)
	}
	der, err := store.NewPending(ref, certstore.KeyAlgorithm(*keyAlg), name)
	unlock()
	if err != nil {
		return certFail(env, "csr", err)
	}
	csr := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	if *out == "-" {
		env.Stdout.Write(csr)
		return 0
	}
	if err := os.WriteFile(*out, csr, 0o644); err != nil { // a CSR is public
		return certFail(env, "csr", err)
	}
	fmt.Fprintf(env.Stderr, "wrote CSR for %s to %s; the key is kept as the pending key of %s\n", name, *out, ref)
	return 0
}

func runCertRollback(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("cert rollback", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	var cf certFlags
	cf.register(fs, env, true)
	if _, err := parseFlags(fs, args); err != nil {
		return flagExit(err)
	}
	ref, err := cf.ref()
	if err != nil {
		return certFail(env, "rollback", err)
	}
	store, err := cf.open(env, certNow)
	if err != nil {
		return certFail(env, "rollback", err)
	}
	if err := store.Rollback(ref); err != nil {
		return certFail(env, "rollback", err)
	}
	cert, err := store.LoadCert(ref, certstore.SlotCurrent)
	if err != nil {
		return certFail(env, "rollback", err)
	}
	fmt.Fprintf(env.Stdout, "%s now serves %s (serial %s, valid until %s); run rollback again to undo\n",
		ref, cert.Subject, cert.SerialNumber.Text(16), cert.NotAfter.UTC().Format(time.RFC3339))
	return 0
}

// veroFlags configure the certificate service client of enroll and renew.
type veroFlags struct {
	endpoint, caFile, serverCAFile string
	customerID, customerName       string
	keyAlg, activate               string
	timeout                        time.Duration
}

func (v *veroFlags) register(fs *flag.FlagSet, env *cliEnv) {
	fs.StringVar(&v.endpoint, "endpoint", env.Getenv("ISOGATE_VERO_ENDPOINT"), "certificate service `URL` (default: Vero's test or production endpoint by --env)")
	fs.StringVar(&v.caFile, "ca", env.Getenv("ISOGATE_VERO_CA"), "`FILE` of CA certificates that sign the service's responses and issue its certificates (required)")
	fs.StringVar(&v.serverCAFile, "server-ca", env.Getenv("ISOGATE_VERO_SERVER_CA"), "`FILE` pinning the HTTPS server's CA (default: system roots)")
	fs.StringVar(&v.customerID, "customer-id", "", "business id sent as CustomerId and certified as CN (default: --org)")
	fs.StringVar(&v.customerName, "customer-name", env.Getenv("ISOGATE_VERO_CUSTOMER_NAME"), "organisation name (CustomerName, certified as O)")
	fs.StringVar(&v.keyAlg, "key", string(certstore.RSA2048), "new key: rsa2048, rsa3072, rsa4096 or ecdsa-p256")
	fs.StringVar(&v.activate, "activate", "", "when a renewed certificate is served: now or next-business-day (default: next-business-day for production, now for test)")
	fs.DurationVar(&v.timeout, "timeout", 60*time.Second, "timeout of one call to the service")
}

// open opens the store and the certificate-service flow that enroll and
// renew share. With abandon it closes the request under way instead; done
// then says the command is over and code is its exit status.
func (v *veroFlags) open(env *cliEnv, sub string, cf *certFlags, abandon bool) (f *vero.Flow, store *certstore.Store, ref certstore.Ref, code int, done bool) {
	ref, err := cf.ref()
	if err == nil {
		store, err = cf.open(env, certNow)
	}
	if err == nil {
		f, err = v.flow(env, store, ref)
	}
	if err == nil && abandon {
		if err = f.Abandon(); err == nil {
			fmt.Fprintf(env.Stdout, "abandoned the request under way for %s\n", ref)
			return f, store, ref, 0, true
		}
	}
	if err != nil {
		return f, store, ref, certFail(env, sub, err), true
	}
	return f, store, ref, 0, false
}

func (v *veroFlags) flow(env *cliEnv, store *certstore.Store, ref certstore.Ref) (*vero.Flow, error) {
	if v.caFile == "" {
		return nil, errors.New("--ca (or ISOGATE_VERO_CA) is required: the CA bundle that signs the service's responses")
	}
	trusted, err := certstore.LoadCAPool(v.caFile)
	if err != nil {
		return nil, err
	}
	var serverCAs *x509.CertPool
	if v.serverCAFile != "" {
		if serverCAs, err = certstore.LoadCAPool(v.serverCAFile); err != nil {
			return nil, err
		}
	}
	cust := v.customerID
	if cust == "" {
		cust = ref.Org
	}
	client, err := vero.NewClient(vero.Config{Endpoint: v.endpoint, Environment: vero.EnvironmentOf(ref.Env),
		CustomerID: cust, CustomerName: v.customerName, TrustedCAs: trusted, ServerCAs: serverCAs,
		Timeout: v.timeout, Now: store.Now})
	if err != nil {
		return nil, err
	}
	f := &vero.Flow{Store: store, Ref: ref, Client: client, KeyAlgorithm: certstore.KeyAlgorithm(v.keyAlg),
		Logger: slog.New(slog.NewTextHandler(env.Stderr, nil))}
	switch v.activate {
	case "":
		f.Activation.NextBusinessDay = ref.Env == certstore.EnvProduction
	case "now":
	case "next-business-day":
		f.Activation.NextBusinessDay = true
	default:
		return nil, fmt.Errorf("--activate %q: want now or next-business-day", v.activate)
	}
	return f, nil
}

const enrollSteps = `To enrol a certificate with the Finnish Tax Administration (Vero) or the Incomes Register:

  1. In the e-service (OmaVero for Vero's APIs, the Incomes Register e-service for
     Incomes Register interfaces), as a person authorised for the organisation, request
     an API (technical interface) certificate: the e-service shows a transfer ID and a
     one-time transfer password. They work once and only for a limited time.
  2. Run, with the transfer password in ISOGATE_TRANSFER_PASSWORD (or typed at the prompt):

       isogate cert enroll --store DIR --org BUSINESS-ID --env test|production \
         --purpose NAME --ca VERO-CA.pem --customer-name "ORGANISATION" --transfer-id ID

     isogate generates the key, sends the CSR with the transfer credentials, records the
     RetrievalId, fetches and verifies the certificate. The password is never stored.
  3. If the command is interrupted after the request was accepted, run it again: it
     resumes from the recorded RetrievalId without using the transfer ID again.

A certificate that has expired cannot be renewed: enrol a new one as above.
`

func runCertEnroll(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("cert enroll", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	var (
		cf certFlags
		vf veroFlags
	)
	cf.register(fs, env, true)
	vf.register(fs, env)
	transferID := fs.String("transfer-id", "", "one-time transfer `ID` from the e-service")
	abandon := fs.Bool("abandon", false, "close the request under way (its transfer credentials are lost) and exit")
	if _, err := parseFlags(fs, args); err != nil {
		return flagExit(err)
	}
	f, store, ref, code, done := vf.open(env, "enroll", &cf, *abandon)
	if done {
		return code
	}
	var (
		res *vero.Result
		err error
	)
	req, reqErr := f.LoadRequest()
	switch {
	case reqErr == nil && req.Operation == vero.OpSignNewCertificate && req.Phase != vero.PhasePrepared && req.Phase != vero.PhaseSent:
		fmt.Fprintf(env.Stderr, "resuming the request with retrieval id %s (transfer id %s is not used again)\n", req.RetrievalID, req.TransferID)
		res, err = f.Resume(ctx)
	case *transferID == "":
		if reqErr == nil {
			fmt.Fprintf(env.Stderr, "a %s request with transfer id %s is in phase %s: run enroll again with --transfer-id %s\n\n",
				req.Operation, req.TransferID, req.Phase, req.TransferID)
		}
		if st, err := store.Status(ref, 0); err == nil && st.State == certstore.StateExpired {
			fmt.Fprintf(env.Stderr, "%s: %s\n\n", ref, st.Detail)
		}
		fmt.Fprint(env.Stderr, enrollSteps)
		return 2
	default:
		password, err := transferPassword(env)
		if err != nil {
			return certFail(env, "enroll", err)
		}
		res, err = f.Enroll(ctx, *transferID, password)
		if err != nil {
			return certFail(env, "enroll", err)
		}
	}
	if err != nil {
		return certFail(env, "enroll", err)
	}
	fmt.Fprintf(env.Stdout, "enrolled %s (serial %s) valid until %s into %s\n", res.Cert.Subject,
		res.Cert.SerialNumber.Text(16), res.Cert.NotAfter.UTC().Format(time.RFC3339), ref)
	return 0
}

// transferPassword reads the one-time transfer password from
// ISOGATE_TRANSFER_PASSWORD or one line of stdin. It is never stored.
func transferPassword(env *cliEnv) (string, error) {
	if p := env.Getenv("ISOGATE_TRANSFER_PASSWORD"); p != "" {
		return p, nil
	}
	if env.Stdin == nil {
		return "", errors.New("no transfer password: set ISOGATE_TRANSFER_PASSWORD")
	}
	fmt.Fprint(env.Stderr, "transfer password (input is shown; prefer ISOGATE_TRANSFER_PASSWORD): ")
	line, err := bufio.NewReader(env.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("reading transfer password: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty transfer password")
	}
	return line, nil
}

func runCertRenew(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("cert renew", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	var (
		cf certFlags
		vf veroFlags
	)
	cf.register(fs, env, true)
	vf.register(fs, env)
	force := fs.Bool("force", false, "renew even if expiry is further away than --renew-before")
	renewBefore := fs.Duration("renew-before", certstore.DefaultRenewBefore, "renewal window before expiry")
	abandon := fs.Bool("abandon", false, "close the request under way and exit")
	if _, err := parseFlags(fs, args); err != nil {
		return flagExit(err)
	}
	f, store, ref, code, done := vf.open(env, "renew", &cf, *abandon)
	if done {
		return code
	}
	if _, reqErr := f.LoadRequest(); errors.Is(reqErr, certstore.ErrNotFound) && !*force {
		cur, err := store.LoadCert(ref, certstore.SlotCurrent)
		if err != nil {
			return certFail(env, "renew", err)
		}
		if left := cur.NotAfter.Sub(store.Now()); left > *renewBefore {
			return certFail(env, "renew", fmt.Errorf("%s expires on %s, in %d days: not inside the %d-day renewal window (use --force)",
				cur.Subject, cur.NotAfter.UTC().Format(time.RFC3339), int(left.Hours()/24), int(renewBefore.Hours()/24)))
		}
	}
	res, err := f.Renew(ctx)
	if err != nil {
		if errors.Is(err, vero.ErrRenewalImpossible) {
			fmt.Fprint(env.Stderr, enrollSteps)
		}
		return certFail(env, "renew", err)
	}
	fmt.Fprintf(env.Stdout, "renewed %s: serial %s valid until %s", ref, res.Cert.SerialNumber.Text(16), res.Cert.NotAfter.UTC().Format(time.RFC3339))
	if !res.ActivateAt.IsZero() {
		fmt.Fprintf(env.Stdout, "; served from %s (the previous certificate until then)", res.ActivateAt.UTC().Format(time.RFC3339))
	}
	fmt.Fprintln(env.Stdout)
	return 0
}
