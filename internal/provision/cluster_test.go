package provision

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/internal/natstest"
	"github.com/isogate/isogate/messages"
)

// clusterResources names every resource Apply manages, as Change reports it,
// with the stream that holds its data.
var clusterResources = []struct{ change, backing string }{
	{"stream " + messages.StreamPayments, messages.StreamPayments},
	{"stream " + messages.StreamStatements, messages.StreamStatements},
	{"stream " + messages.StreamDLQ, messages.StreamDLQ},
	{"stream " + messages.StreamOps, messages.StreamOps},
	{"kv " + messages.BucketBatches, "KV_" + messages.BucketBatches},
	{"kv " + messages.BucketIntents, "KV_" + messages.BucketIntents},
	{"kv " + messages.BucketCursors, "KV_" + messages.BucketCursors},
	{"object store " + messages.ObjectStoreArchive, "OBJ_" + messages.ObjectStoreArchive},
}

func clusterOptions(replicas int) Options {
	return Options{Replicas: replicas, DuplicateWindow: 2 * time.Minute}
}

// applyReplicas runs Apply with replicas and returns its changes keyed as in
// clusterResources.
func applyReplicas(t *testing.T, js jetstream.JetStream, replicas int) map[string]Change {
	t.Helper()
	// Several attempts of AttemptTimeout each: on a loaded machine a new
	// replicated stream's first election can fail and take seconds more.
	ctx, cancel := context.WithTimeout(t.Context(), 6*AttemptTimeout)
	defer cancel()
	changes, err := ApplyWithRetry(ctx, js, clusterOptions(replicas), func(attempt int, err error) {
		t.Logf("Apply(replicas %d) attempt %d: %v", replicas, attempt, err)
	})
	if err != nil {
		t.Fatalf("Apply(replicas %d): %v", replicas, err)
	}
	got := map[string]Change{}
	for _, c := range changes {
		got[c.Kind+" "+c.Name] = c
	}
	if len(got) != len(clusterResources) {
		t.Errorf("Apply(replicas %d) reported %d resources (%v), want %d", replicas, len(got), changes, len(clusterResources))
	}
	return got
}

// wantActions fails the test unless every resource in changes has action
// and detail.
func wantActions(t *testing.T, changes map[string]Change, action Action, detail string) {
	t.Helper()
	for _, r := range clusterResources {
		c, ok := changes[r.change]
		if !ok {
			t.Errorf("%s: not reported", r.change)
			continue
		}
		if c.Action != action || c.Detail != detail {
			t.Errorf("%s: %s %q, want %s %q", r.change, c.Action, c.Detail, action, detail)
		}
	}
}

// wantReplicas waits until every backing stream is configured with
// replicas, has a leader and replicas-1 current followers, and fails the
// test if that does not happen within 10 s.
func wantReplicas(t *testing.T, js jetstream.JetStream, replicas int) {
	t.Helper()
	for _, r := range clusterResources {
		if state := natstest.WaitReplicas(t.Context(), js, r.backing, replicas, 10*time.Second); state != "" {
			t.Errorf("%s (stream %s): %s", r.change, r.backing, state)
		}
	}
}

// deleteResources removes every backing stream, so a subtest starts from an
// empty account.
func deleteResources(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	for _, r := range clusterResources {
		if err := js.DeleteStream(t.Context(), r.backing); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Fatalf("deleting stream %s: %v", r.backing, err)
		}
	}
}

func TestApplyOnThreeNodeCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node JetStream cluster")
	}
	start := time.Now()
	c := natstest.StartCluster(t, 3)
	t.Logf("cluster ready in %s", time.Since(start).Round(time.Millisecond))
	_, js := c.Connect()

	t.Run("create with 3 replicas, then unchanged", func(t *testing.T) {
		deleteResources(t, js)
		wantActions(t, applyReplicas(t, js, 3), Created, "")
		wantReplicas(t, js, 3)
		wantActions(t, applyReplicas(t, js, 3), Unchanged, "")
	})

	t.Run("scale from 1 to 3 replicas", func(t *testing.T) {
		deleteResources(t, js)
		wantActions(t, applyReplicas(t, js, 1), Created, "")
		wantReplicas(t, js, 1)
		wantActions(t, applyReplicas(t, js, 3), Updated, "replicas 1 → 3")
		wantReplicas(t, js, 3)
		wantActions(t, applyReplicas(t, js, 3), Unchanged, "")
	})
}

func TestApplyReplicasWithoutCluster(t *testing.T) {
	srv := natstest.Start(t)
	_, js := srv.Connect()

	_, err := Apply(t.Context(), js, clusterOptions(3))
	if err == nil {
		t.Fatal("Apply(replicas 3) on a single server succeeded, want an error")
	}
	t.Logf("error: %v", err)
	for _, want := range []string{"stream PAYMENTS", "nats.streams.replicas is 3", "set replicas to 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Apply(replicas 3) error %q does not contain %q", err, want)
		}
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("Apply(replicas 3) error %v does not wrap a *jetstream.APIError", err)
	}
	t.Logf("server: err_code %d: %s", apiErr.ErrorCode, apiErr.Description)
	var ae *applyError
	if want := (Change{Kind: "stream", Name: messages.StreamPayments, Action: Created}); !errors.As(err, &ae) || ae.change != want {
		t.Errorf("Apply(replicas 3) error %v does not carry the attempted change %v", err, want)
	}
	// Apply stops at the first refusal: nothing is left half-provisioned.
	if _, err := js.Stream(t.Context(), messages.StreamPayments); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("stream PAYMENTS after the refused Apply: err = %v, want %v", err, jetstream.ErrStreamNotFound)
	}
}
