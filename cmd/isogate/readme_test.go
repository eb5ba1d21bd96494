package main

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/isogate/isogate/internal/natstest"
	"github.com/isogate/isogate/internal/provision"
)

// TestReadmeExamples runs the publish examples of README.md's "Try it"
// section against a real server and checks that the README shows what the
// commands print.
func TestReadmeExamples(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	srv := natstest.Start(t)
	_, js := srv.Connect()
	if _, err := provision.Apply(t.Context(), js, provision.Options{Replicas: 1, DuplicateWindow: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	// Each README line "./isogate publish FILE   # SUMMARY[; exits N]".
	example := regexp.MustCompile(`(?m)^\./isogate publish (\S+)\s+# (\d+ published, \d+ duplicates, \d+ invalid)(; exits (\d))?`)
	found := example.FindAllStringSubmatch(string(readme), -1)
	if len(found) < 4 {
		t.Fatalf("README has %d publish examples, want at least 4", len(found))
	}
	for _, m := range found {
		file, wantSummary, wantCode := m[1], m[2], 0
		if m[4] != "" {
			wantCode = int(m[4][0] - '0')
		}
		var stdout, stderr bytes.Buffer
		env := &cliEnv{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
		code := run(t.Context(), env, []string{"publish", "--nats-url", srv.ClientURL(), "../../" + file})
		if code != wantCode || strings.TrimSpace(stdout.String()) != wantSummary {
			t.Errorf("publish %s: exit %d, %q; README says exit %d, %q\n%s", file, code, stdout.String(), wantCode, wantSummary, stderr.String())
		}
		if file == "testdata/intents-bad.jsonl" {
			for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
				if !strings.Contains(string(readme), "\n"+line+"\n") {
					t.Errorf("README does not show the error line %q", line)
				}
			}
		}
	}
}
