package natstest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// clusterReadyTimeout bounds the wait for a JetStream meta leader. Raft
// elections in nats-server wait 4 to 9 seconds before campaigning, so a
// cluster usually forms in 5 to 10 seconds.
const clusterReadyTimeout = 30 * time.Second

// Cluster is a JetStream cluster of embedded servers routed to each other on
// loopback, each with file storage in its own temporary directory and fsync
// on every write, as the gateway's three-node production cluster runs.
type Cluster struct {
	t testing.TB
	// Nodes are the servers, in start order; a stopped node is nil.
	Nodes []*server.Server
}

// StartCluster starts n servers forming the JetStream cluster "natstest"
// (servers n1, n2, ...) and returns once they have elected a meta leader
// and every node has caught up with it. The cluster stops with the test.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("natstest: StartCluster(%d): need at least one node", n)
	}
	routePorts := freePorts(t, n)
	routes := make([]*url.URL, n)
	for i, p := range routePorts {
		routes[i] = &url.URL{Scheme: "nats-route", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(p))}
	}
	dirs := make([]string, n)
	for i := range dirs {
		dirs[i] = t.TempDir()
	}
	// Registered after the directories, so the nodes stop before their
	// directories are removed (cleanups run last-registered first).
	c := &Cluster{t: t, Nodes: make([]*server.Server, n)}
	t.Cleanup(c.Shutdown)
	for i := range n {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       -1,
			JetStream:  true,
			StoreDir:   dirs[i],
			SyncAlways: true,
			NoLog:      true,
			NoSigs:     true,
			Cluster: server.ClusterOpts{
				Name: "natstest",
				Host: "127.0.0.1",
				Port: routePorts[i],
			},
			// Every node lists every node, itself included, as in
			// deploy/nats/n*.conf; a server ignores the route to itself.
			Routes: slices.Clone(routes),
		}
		srv, err := server.NewServer(opts)
		if err != nil {
			t.Fatalf("natstest: node n%d: %v", i+1, err)
		}
		go srv.Start()
		c.Nodes[i] = srv
	}
	for i, srv := range c.Nodes {
		if !srv.ReadyForConnections(10 * time.Second) {
			t.Fatalf("natstest: node n%d not ready within 10s", i+1)
		}
	}
	c.waitForLeader(n)
	return c
}

// freePorts returns n distinct free loopback ports. It holds all n
// listeners open together so the kernel cannot hand out one port twice. A
// cluster route port must be known before any node starts, because every
// node lists all of them; another process could still take a port in the
// moment between closing it here and the node binding it.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("natstest: finding a free port: %v", err)
		}
		defer ln.Close()
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// waitForLeader polls until one running node is the JetStream meta leader,
// it counts want peers online, and every running node is current with it.
func (c *Cluster) waitForLeader(want int) {
	c.t.Helper()
	deadline := time.Now().Add(clusterReadyTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		state := c.metaState(want)
		if state == "" {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("natstest: cluster not ready within %s: %s", clusterReadyTimeout, state)
		}
		<-tick.C
	}
}

// metaState returns "" when the cluster has a meta leader with want peers
// online and every running node current, or else what is missing.
func (c *Cluster) metaState(want int) string {
	var leader *server.Server
	for _, s := range c.Nodes {
		if s != nil && s.JetStreamIsLeader() {
			leader = s
		}
	}
	if leader == nil {
		return "no JetStream meta leader"
	}
	if peers := leader.JetStreamClusterPeers(); len(peers) < want {
		return fmt.Sprintf("meta leader %s sees %d of %d peers (%s)", leader.Name(), len(peers), want, strings.Join(peers, ", "))
	}
	for _, s := range c.Nodes {
		if s != nil && !s.JetStreamIsCurrent() {
			return fmt.Sprintf("node %s is not current with meta leader %s", s.Name(), leader.Name())
		}
	}
	return ""
}

// running returns the nodes not stopped.
func (c *Cluster) running() []*server.Server {
	var up []*server.Server
	for _, s := range c.Nodes {
		if s != nil {
			up = append(up, s)
		}
	}
	return up
}

// ClientURLs returns the client URLs of the running nodes, comma-separated,
// as nats.Connect and the gateway's nats.url take them.
func (c *Cluster) ClientURLs() string {
	var urls []string
	for _, s := range c.running() {
		urls = append(urls, s.ClientURL())
	}
	return strings.Join(urls, ",")
}

// Connect returns a client connection to the running nodes and its JetStream
// context, closed with the test. The connection reconnects to another node
// when its node stops.
func (c *Cluster) Connect() (*nats.Conn, jetstream.JetStream) {
	c.t.Helper()
	nc, err := nats.Connect(c.ClientURLs(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		c.t.Fatalf("natstest: connecting to cluster: %v", err)
	}
	c.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		c.t.Fatalf("natstest: jetstream: %v", err)
	}
	return nc, js
}

// StopNode shuts node i (0-based) down and waits for it. When the nodes left
// still hold a majority, it then waits until they have a meta leader again,
// so the next JetStream request is answered. Stopping a stopped node does
// nothing.
func (c *Cluster) StopNode(i int) {
	c.t.Helper()
	s := c.Nodes[i]
	if s == nil {
		return
	}
	s.Shutdown()
	s.WaitForShutdown()
	c.Nodes[i] = nil
	if up := len(c.running()); up > len(c.Nodes)/2 {
		c.waitForLeader(up)
	}
}

// Shutdown stops every node and waits for each. It runs with the test's
// cleanup and is safe to call more than once.
func (c *Cluster) Shutdown() {
	for _, s := range c.Nodes {
		if s != nil {
			s.Shutdown()
		}
	}
	for i, s := range c.Nodes {
		if s != nil {
			s.WaitForShutdown()
			c.Nodes[i] = nil
		}
	}
}

// ReplicaState returns "" when stream name is configured with replicas and
// has a leader and replicas-1 current followers, or else what differs.
func ReplicaState(ctx context.Context, js jetstream.JetStream, name string, replicas int) string {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return err.Error()
	}
	info, err := s.Info(ctx)
	if err != nil {
		return err.Error()
	}
	if info.Config.Replicas != replicas {
		return fmt.Sprintf("Config.Replicas = %d, want %d", info.Config.Replicas, replicas)
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return "no leader"
	}
	if got := len(info.Cluster.Replicas); got != replicas-1 {
		return fmt.Sprintf("leader %s and %d followers in Cluster.Replicas, want %d", info.Cluster.Leader, got, replicas-1)
	}
	for _, p := range info.Cluster.Replicas {
		if !p.Current {
			return fmt.Sprintf("follower %s not current", p.Name)
		}
	}
	return ""
}

// WaitReplicas polls [ReplicaState] every 20 ms until the stream is ready
// or timeout passes, and returns the last state: "" when ready.
func WaitReplicas(ctx context.Context, js jetstream.JetStream, name string, replicas int, timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		state := ReplicaState(ctx, js, name, replicas)
		if state == "" || time.Now().After(deadline) {
			return state
		}
		select {
		case <-ctx.Done():
			return state + " (" + ctx.Err().Error() + ")"
		case <-tick.C:
		}
	}
}
