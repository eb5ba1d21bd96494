package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/isogate/isogate/certstore/certsim"
)

func init() {
	register(command{Name: "certsim", Summary: "run a simulated Vero certificate service (SOAP over HTTPS)", Run: runCertsim})
}

// transferFlags collects repeated --transfer CUSTOMER:ID:PASSWORD flags.
type transferFlags [][3]string

func (t *transferFlags) String() string { return fmt.Sprint(len(*t), " transfers") }

func (t *transferFlags) Set(v string) error {
	parts := strings.SplitN(v, ":", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return errors.New("want CUSTOMER-ID:TRANSFER-ID:PASSWORD")
	}
	*t = append(*t, [3]string(parts))
	return nil
}

func runCertsim(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("certsim", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	addr := fs.String("addr", "127.0.0.1:8443", "listen `ADDRESS` (port 0: any free port)")
	dir := fs.String("dir", "certsim", "`DIR` to write ca.pem into (trust it with isogate cert --ca and --server-ca)")
	lifetime := fs.Duration("lifetime", 2*365*24*time.Hour, "lifetime of issued certificates")
	var transfers transferFlags
	fs.Var(&transfers, "transfer", "one-time transfer credentials `CUSTOMER-ID:TRANSFER-ID:PASSWORD` (repeatable)")
	if _, err := parseFlags(fs, args); err != nil {
		return flagExit(err)
	}
	ca, err := certsimCA(*dir)
	if err != nil {
		fmt.Fprintln(env.Stderr, "isogate certsim:", err)
		return 1
	}
	caFile := filepath.Join(*dir, "ca.pem")
	sim, err := certsim.New(certsim.Config{CA: ca, Lifetime: *lifetime,
		Logger: slog.New(slog.NewTextHandler(env.Stderr, nil))})
	if err != nil {
		fmt.Fprintln(env.Stderr, "isogate certsim:", err)
		return 1
	}
	for _, t := range transfers {
		sim.AddTransfer(t[0], t[1], t[2])
	}
	run, err := sim.Start(*addr)
	if err != nil {
		fmt.Fprintln(env.Stderr, "isogate certsim:", err)
		return 1
	}
	fmt.Fprintf(env.Stdout, "certsim listening on %s\nCA (for --ca and --server-ca): %s\n", run.URL, caFile)
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := run.Close(shutdown); err != nil {
		fmt.Fprintln(env.Stderr, "isogate certsim:", err)
		return 1
	}
	return 0
}

// certsimCA loads the simulator's CA from dir (ca.pem, ca-key.pem), or
// creates and saves one, so that certificates it issued stay renewable
// across restarts.
func certsimCA(dir string) (*certsim.CA, error) {
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	certPEM, errC := os.ReadFile(certFile)
	keyPEM, errK := os.ReadFile(keyFile)
	if errC == nil && errK == nil {
		return certsim.LoadCA(certPEM, keyPEM)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ca, err := certsim.NewCA("certsim CA", nil, time.Now().Add(-time.Hour), 20*365*24*time.Hour)
	if err != nil {
		return nil, err
	}
	keyPEM, err = ca.KeyPEM()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(certFile, ca.CertPEM(), 0o644); err != nil {
		return nil, err
	}
	return ca, nil
}
