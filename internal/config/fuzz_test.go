package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzLoad reads any YAML file with any ISOGATE_* variable: Load refuses
// it with an error naming the file or the variable, or the configuration
// it returns can be validated, masked and printed, and what YAML prints
// (secrets masked) loads back and prints the same.
func FuzzLoad(f *testing.F) {
	def, err := Default().YAML()
	if err != nil {
		f.Fatal(err)
	}
	names := EnvNames()
	f.Add(def, uint8(0), "")
	f.Add([]byte("nats:\n  url: nats://user:secret@host:4222\nworkers: [encoder, submitter]\n"), uint8(1), "x")
	f.Add([]byte("bank:\n  channel: filedrop\n  filedrop: {outbox: o, inbox: i, archive: a}\nstatements:\n  accounts:\n    - iban: LV55TREL9190000000001\n      start_date: 2026-11-01\n"), uint8(7), "30s")
	f.Add([]byte("{}"), uint8(3), "1h")
	f.Add([]byte("unknown: 1\n"), uint8(0), "")
	f.Add([]byte("a: &a [*a, *a]\nb: &b [*a, *a]\n"), uint8(0), "")
	f.Fuzz(func(t *testing.T, data []byte, which uint8, value string) {
		if len(data) > 1<<16 {
			t.Skip()
		}
		path := filepath.Join(t.TempDir(), "isogate.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		name := names[int(which)%len(names)]
		getenv := func(k string) string {
			if k == name {
				return value
			}
			return ""
		}
		cfg, err := Load(path, getenv)
		if err != nil {
			if msg := err.Error(); !strings.Contains(msg, path) && !strings.Contains(msg, name) {
				t.Fatalf("Load error %q names neither the file nor %s", msg, name)
			}
			return
		}
		_ = cfg.Validate()
		out, err := cfg.YAML()
		if err != nil {
			t.Fatalf("YAML() = %v", err)
		}
		if err := os.WriteFile(path, out, 0o600); err != nil {
			t.Fatal(err)
		}
		again, err := Load(path, func(string) string { return "" })
		if err != nil {
			t.Fatalf("Load of YAML() output = %v\n%s", err, out)
		}
		out2, err := again.YAML()
		if err != nil || string(out2) != string(out) {
			t.Fatalf("YAML() does not load back (%v):\n%s\n%s", err, out, out2)
		}
		if !slices.Equal(again.Workers, cfg.Workers) || again.NATS.URL != cfg.Masked().NATS.URL {
			t.Fatalf("YAML() does not load back: %+v, want %+v", again, cfg.Masked())
		}
	})
}

// FuzzParseBytes: a size is refused, or it is positive and exactly the
// number times its unit (no overflow).
func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"512MB", "10GB", "1048576", " 1 tb ", "0", "-1KB", "9223372036854775807", "8388608TB", "B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseBytes(s)
		if err != nil {
			return
		}
		if n <= 0 {
			t.Fatalf("ParseBytes(%q) = %d", s, n)
		}
		u := strings.ToUpper(strings.TrimSpace(s))
		for suffix, mult := range map[string]int64{"TB": 1 << 40, "GB": 1 << 30, "MB": 1 << 20, "KB": 1 << 10} {
			if strings.HasSuffix(u, suffix) && n%mult != 0 {
				t.Fatalf("ParseBytes(%q) = %d, not a multiple of %d: overflow", s, n, mult)
			}
		}
	})
}
