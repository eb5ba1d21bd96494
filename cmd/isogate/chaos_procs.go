//go:build chaos

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// chaosProc is one child process of the chaos harness — a NATS node or an
// isogate worker — that can be started, killed with SIGKILL and started
// again. Its output is appended to one log file across incarnations.
type chaosProc struct {
	name string
	bin  string
	args []string
	env  []string
	log  string

	mu         sync.Mutex
	cmd        *exec.Cmd
	done       chan struct{} // closed when the current incarnation exited
	killedByUs bool
	starts     int
}

// start runs a new incarnation with extra environment variables.
func (p *chaosProc) start(extraEnv ...string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !closed(p.done) {
		return fmt.Errorf("%s: already running", p.name)
	}
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	p.starts++
	fmt.Fprintf(f, "\n=== chaos: start %d of %s at %s %s\n", p.starts, p.name, time.Now().Format(time.RFC3339Nano),
		strings.Join(extraEnv, " "))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(append([]string(nil), p.env...), extraEnv...)
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group: a Ctrl-C to the harness does not reach the
	// children before the harness kills them itself.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("starting %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.killedByUs = cmd, done, false
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(done)
	}()
	return nil
}

func closed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// running reports whether the current incarnation is alive.
func (p *chaosProc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && !closed(p.done)
}

// kill sends SIGKILL to the current incarnation and waits until it is
// gone; it reports whether there was one to kill.
func (p *chaosProc) kill() bool {
	p.mu.Lock()
	if p.cmd == nil || closed(p.done) {
		p.mu.Unlock()
		return false
	}
	p.killedByUs = true
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	done := p.done
	p.mu.Unlock()
	<-done
	return true
}

// exited returns the channel closed when the current incarnation exits.
func (p *chaosProc) exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// exitCause says how the last incarnation ended: "killed" (by the
// harness), "sigkill" (SIGKILL from elsewhere: a crash hook), or the exit
// status.
func (p *chaosProc) exitCause() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.killedByUs {
		return "killed"
	}
	st := p.cmd.ProcessState
	if st == nil {
		return "unknown"
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		if ws.Signal() == syscall.SIGKILL {
			return "sigkill"
		}
		return "signal " + ws.Signal().String()
	}
	return fmt.Sprintf("exit %d", st.ExitCode())
}

// startFailed reports whether the last incarnation's log ends with serve's
// "start failed" line.
func (p *chaosProc) startFailed() bool {
	f, err := os.Open(p.log)
	if err != nil {
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false
	}
	const tail = 8 << 10
	buf := make([]byte, min(st.Size(), tail))
	if _, err := f.ReadAt(buf, st.Size()-int64(len(buf))); err != nil {
		return false
	}
	s := string(buf)
	if i := strings.LastIndex(s, "=== chaos: start "); i >= 0 {
		s = s[i:]
	}
	return strings.Contains(s, `msg="start failed"`)
}

// freePorts returns n distinct free TCP ports on loopback.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// natsNode is one nats-server process of the harness's cluster.
type natsNode struct {
	*chaosProc
	clientPort, monitorPort int
}

func (n *natsNode) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.clientPort) }

// healthy reports whether the node's /healthz answers 200: JetStream is
// enabled, the node knows the meta leader and its streams and consumers
// are current.
func (n *natsNode) healthy(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/healthz", n.monitorPort), nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// newNATSCluster writes the configuration of a three-node JetStream cluster
// on loopback under dir: file storage, sync_interval always (fsync before
// every acknowledgement), every node routing to every node.
func newNATSCluster(dir, bin string) ([]*natsNode, error) {
	ports, err := freePorts(9)
	if err != nil {
		return nil, err
	}
	var routes []string
	for i := range 3 {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[6+i]))
	}
	var nodes []*natsNode
	for i := range 3 {
		name := fmt.Sprintf("n%d", i+1)
		conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
http: 127.0.0.1:%d
jetstream {
  store_dir: %q
  sync_interval: always
}
cluster {
  name: chaos
  listen: 127.0.0.1:%d
  routes: [%s]
}
`, name, ports[i], ports[3+i], filepath.Join(dir, name), ports[6+i], strings.Join(routes, ", "))
		path := filepath.Join(dir, name+".conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			return nil, err
		}
		nodes = append(nodes, &natsNode{
			chaosProc:  &chaosProc{name: "nats-" + name, bin: bin, args: []string{"-c", path}, log: filepath.Join(dir, name+".log")},
			clientPort: ports[i], monitorPort: ports[3+i],
		})
	}
	return nodes, nil
}

// waitHealthy polls the nodes' /healthz until each answers 200 or ctx ends.
func waitHealthy(ctx context.Context, nodes ...*natsNode) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		ok := true
		for _, n := range nodes {
			if !n.healthy(ctx) {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			var names []string
			for _, n := range nodes {
				if !n.healthy(context.Background()) {
					names = append(names, n.name)
				}
			}
			return fmt.Errorf("nats nodes %s not healthy: %w", strings.Join(names, ", "), errors.Join(ctx.Err(), context.Cause(ctx)))
		case <-t.C:
		}
	}
}
