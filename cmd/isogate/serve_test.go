package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/isogate/isogate/internal/config"
	"github.com/isogate/isogate/internal/intentgen"
)

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// TestMain removes the binary the end-to-end tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binary builds the isogate command once per test run, so the end-to-end
// tests exercise the real process: flags, signals, exit codes.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "isogate-bin")
		if err != nil {
			buildErr = err
			return
		}
		binDir = dir
		binPath = filepath.Join(dir, "isogate")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func serveFreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// serveProc is a running `isogate serve`.
type serveProc struct {
	cmd      *exec.Cmd
	log      *bytes.Buffer
	done     chan error
	natsURL  string
	monitor  string
	ops      string
	readyIn  time.Duration
	stopOnce sync.Once
}

type ports struct{ nats, monitor, ops int }

func newPorts(t *testing.T) ports {
	return ports{serveFreePort(t), serveFreePort(t), serveFreePort(t)}
}

func startServe(t *testing.T, dataDir string, p ports) *serveProc {
	t.Helper()
	cmd := exec.Command(binary(t), "serve",
		"--data-dir", dataDir,
		"--nats-port", fmt.Sprint(p.nats),
		"--monitor-port", fmt.Sprint(p.monitor),
		"--ops-listen", fmt.Sprintf("127.0.0.1:%d", p.ops),
		"--log-format", "text")
	cmd.Env = cleanEnv()
	sp := &serveProc{
		cmd:     cmd,
		log:     &bytes.Buffer{},
		done:    make(chan error, 1),
		natsURL: fmt.Sprintf("nats://127.0.0.1:%d", p.nats),
		monitor: fmt.Sprintf("http://127.0.0.1:%d", p.monitor),
		ops:     fmt.Sprintf("http://127.0.0.1:%d", p.ops),
	}
	cmd.Stdout, cmd.Stderr = sp.log, sp.log
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { sp.done <- cmd.Wait() }()
	t.Cleanup(func() {
		sp.stopOnce.Do(func() {
			_ = cmd.Process.Kill()
			<-sp.done
		})
		if t.Failed() {
			t.Logf("serve log:\n%s", sp.log)
		}
	})
	// Ready within 10 s of start: /readyz answers 200.
	deadline := start.Add(10 * time.Second)
	for {
		if code, _ := httpGet(sp.ops + "/readyz"); code == http.StatusOK {
			sp.readyIn = time.Since(start)
			return sp
		}
		select {
		case err := <-sp.done:
			t.Fatalf("serve exited before ready: %v\n%s", err, sp.log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready within 10s\n%s", sp.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and returns the exit code and how long the exit took.
func (sp *serveProc) stop(t *testing.T) (int, time.Duration) {
	t.Helper()
	code, took := -1, time.Duration(0)
	sp.stopOnce.Do(func() {
		start := time.Now()
		if err := sp.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case <-sp.done:
			took = time.Since(start)
			code = sp.cmd.ProcessState.ExitCode()
		case <-time.After(15 * time.Second):
			_ = sp.cmd.Process.Kill()
			<-sp.done
			t.Fatalf("serve did not exit within 15s of SIGTERM\n%s", sp.log)
		}
	})
	return code, took
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ISOGATE_") {
			env = append(env, kv)
		}
	}
	return env
}

func httpGet(url string) (int, []byte) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// runCLI runs the binary to completion and returns exit code, stdout, stderr.
func execIsogate(t *testing.T, stdin io.Reader, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Env = cleanEnv()
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !exitErrorAs(err, &exitErr) {
		t.Fatalf("%v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

func exitErrorAs(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}

func serveWriteIntents(t *testing.T, n int, prefix string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "intents.jsonl")
	var buf bytes.Buffer
	for _, p := range intentgen.Intents(n, intentgen.Options{Prefix: prefix, Seed: 42}) {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestServePublishStop is the acceptance run: serve is ready within
// 10 s with the four streams, publish of 10,000 intents reports 10,000
// published and then 10,000 duplicates, bad lines are named, SIGTERM exits
// 0 within 10 s, and the data is still there after a restart.
func TestServePublishStop(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run with 20,000 fsynced publishes")
	}
	dataDir := t.TempDir()
	p := newPorts(t)
	sp := startServe(t, dataDir, p)
	t.Logf("ready in %s", sp.readyIn)

	if code, body := httpGet(sp.ops + "/healthz"); code != 200 || strings.TrimSpace(string(body)) != "ok" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := httpGet(sp.ops + "/metrics"); code != 200 || !bytes.Contains(body, []byte("isogate_nats_connected 1")) {
		t.Errorf("/metrics = %d, missing isogate_nats_connected 1", code)
	}
	_, jsz := httpGet(sp.monitor + "/jsz?streams=true")
	var js struct {
		AccountDetails []struct {
			Streams []struct {
				Name string `json:"name"`
			} `json:"stream_detail"`
		} `json:"account_details"`
	}
	if err := json.Unmarshal(jsz, &js); err != nil {
		t.Fatalf("/jsz: %v\n%s", err, jsz)
	}
	streams := map[string]bool{}
	for _, a := range js.AccountDetails {
		for _, s := range a.Streams {
			streams[s.Name] = true
		}
	}
	for _, want := range []string{"PAYMENTS", "STATEMENTS", "DLQ", "OPS"} {
		if !streams[want] {
			t.Errorf("/jsz?streams=true does not list %s: %v", want, streams)
		}
	}
	if _, varz := httpGet(sp.monitor + "/varz"); !bytes.Contains(varz, []byte(`"sync_always": true`)) {
		t.Errorf("/varz does not show sync_always true")
	}

	file := serveWriteIntents(t, 10000, "E2E")
	start := time.Now()
	code, out, errOut := execIsogate(t, nil, "publish", "--nats-url", sp.natsURL, file)
	if code != 0 || strings.TrimSpace(out) != "10000 published, 0 duplicates, 0 invalid" {
		t.Fatalf("first publish: exit %d, stdout %q\nstderr: %s", code, out, errOut)
	}
	t.Logf("published 10,000 intents in %s", time.Since(start).Round(time.Millisecond))
	code, out, errOut = execIsogate(t, nil, "publish", "--nats-url", sp.natsURL, "--json", file)
	var sum struct{ Published, Duplicates, Invalid int }
	if err := json.Unmarshal([]byte(out), &sum); err != nil || code != 0 || sum.Published != 0 || sum.Duplicates != 10000 || sum.Invalid != 0 {
		t.Fatalf("second publish: exit %d, stdout %q (%v)\nstderr: %s", code, out, err, errOut)
	}

	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(bad, []byte(strings.Join([]string{
		`{"id":"OK-1","debtor":{"name":"A","iban":"LV55TREL9190000000001"},"creditor":{"name":"B","iban":"LV97HABA0012345678910"},"amount":"1.00","currency":"EUR"}`,
		`{"id":"BAD-1","debtor":{"name":"A","iban":"LV55TREL9190000000001"},"creditor":{"name":"B","iban":"LV97HABA0012345678911"},"amount":"1.00","currency":"EUR"}`,
		`{"id":"BAD-2","debtor":{"name":"A","iban":"LV55TREL9190000000001"},"creditor":{"name":"B","iban":"LV97HABA0012345678910"},"amount":1,"currency":"EUR"}`,
		`{"id":"BAD-3","debtor":{"name":"A","iban":"LV55TREL9190000000001"},"creditor":{"name":"B","iban":"LV97HABA0012345678910"},"amount":"1.00","currency":"EUX"}`,
		`{oops`,
	}, "\n")+"\n"), 0o600)
	code, out, errOut = execIsogate(t, nil, "publish", "--nats-url", sp.natsURL, bad)
	if code == 0 {
		t.Errorf("publish of bad intents exited 0")
	}
	if strings.TrimSpace(out) != "1 published, 0 duplicates, 4 invalid" {
		t.Errorf("bad publish summary = %q", out)
	}
	for _, want := range []string{"line 2: creditor.iban: ", "line 3: amount: ", "line 4: currency: ", "line 5: json: "} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr does not name %q:\n%s", want, errOut)
		}
	}

	code, took := sp.stop(t)
	if code != 0 || took > 10*time.Second {
		t.Fatalf("SIGTERM: exit %d after %s, want 0 within 10s\n%s", code, took, sp.log)
	}
	t.Logf("SIGTERM exit in %s", took.Round(time.Millisecond))

	// Everything acknowledged before the stop is there after a restart.
	sp = startServe(t, dataDir, p)
	code, out, _ = execIsogate(t, nil, "publish", "--nats-url", sp.natsURL, "--quiet", file)
	if code != 0 || strings.TrimSpace(out) != "0 published, 10000 duplicates, 0 invalid" {
		t.Errorf("publish after restart: exit %d, %q", code, out)
	}
	if code, _ := sp.stop(t); code != 0 {
		t.Errorf("second SIGTERM exit %d", code)
	}
}

func TestServeRefusesBusyDataDir(t *testing.T) {
	dataDir := t.TempDir()
	sp := startServe(t, dataDir, newPorts(t))
	p := newPorts(t)
	code, _, errOut := execIsogate(t, nil, "serve", "--data-dir", dataDir, "--nats-port", fmt.Sprint(p.nats),
		"--monitor-port", fmt.Sprint(p.monitor), "--ops-listen", fmt.Sprintf("127.0.0.1:%d", p.ops))
	if code != 1 || !strings.Contains(errOut, "in use by another isogate") {
		t.Errorf("second serve on one data dir: exit %d\n%s", code, errOut)
	}
	sp.stop(t)
}

func TestPrintConfig(t *testing.T) {
	var stdout, stderr bytes.Buffer
	env := &cliEnv{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string {
		return map[string]string{"ISOGATE_NATS_PASSWORD": "hunter2", "ISOGATE_OPS_LISTEN": "127.0.0.1:9999"}[k]
	}}
	code := run(t.Context(), env, []string{"serve", "--print-config", "--nats-url", "nats://svc:s3cret@n1:4222", "--replicas", "3"})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	for _, secret := range []string{"hunter2", "s3cret"} {
		if strings.Contains(out, secret) {
			t.Errorf("--print-config shows a secret:\n%s", out)
		}
	}
	for _, want := range []string{"listen: 127.0.0.1:9999", "replicas: 3", "svc:", "data_dir: ./data", "sync_interval: always"} {
		if !strings.Contains(out, want) {
			t.Errorf("--print-config lacks %q:\n%s", want, out)
		}
	}
}

func TestCLIUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage: isogate COMMAND"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"publish"}, 2, "name at least one FILE"},
		{[]string{"publish", "--format", "xml", "x"}, 2, "--format"},
		{[]string{"serve", "--replicas", "three"}, 2, "--replicas"},
		{[]string{"serve", "extra"}, 2, "unexpected argument"},
		{[]string{"serve", "--nats-port", "0", "--print-config"}, 2, "nats.embedded.port"},
	} {
		var stdout, stderr bytes.Buffer
		env := &cliEnv{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
		code := run(t.Context(), env, tt.args)
		if code != tt.code || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("isogate %v: exit %d, stderr %q; want exit %d and %q", tt.args, code, stderr.String(), tt.code, tt.want)
		}
	}
}

func TestPublishWithoutServer(t *testing.T) {
	code, _, errOut := execIsogate(t, nil, "publish", "--nats-url", fmt.Sprintf("nats://127.0.0.1:%d", serveFreePort(t)), "-")
	if code != 1 || !strings.Contains(errOut, "connecting to NATS") {
		t.Errorf("publish without a server: exit %d\n%s", code, errOut)
	}
}

// TestEveryEnvVariableIsKnown keeps serve's "unknown variable" warning
// honest: each ISOGATE_* name the commands read is a configuration setting
// or listed in otherEnv.
func TestEveryEnvVariableIsKnown(t *testing.T) {
	known := map[string]bool{}
	for _, n := range append(config.EnvNames(), otherEnv...) {
		known[n] = true
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`"(ISOGATE_[A-Z0-9_]+)"`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range name.FindAllStringSubmatch(string(src), -1) {
			if !known[m[1]] && !strings.HasPrefix(m[1], "ISOGATE_TEST") {
				t.Errorf("%s reads %s, which serve would warn about: add it to otherEnv", f, m[1])
			}
		}
	}
}
