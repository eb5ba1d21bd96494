// Package provision creates and updates the gateway's JetStream resources —
// the PAYMENTS, STATEMENTS, DLQ and OPS streams, the batches, intents and
// cursors key-value buckets, and the archive object store — at every start.
// It is idempotent: a second run with the same settings changes nothing, and
// a run with changed settings updates what JetStream can update in place and
// says clearly what it cannot.
package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/messages"
)

// Options are the settings an operator may change between starts.
type Options struct {
	// Replicas for every stream, bucket and object store (1 to 5).
	Replicas int
	// DuplicateWindow is the Nats-Msg-Id window of the PAYMENTS stream.
	DuplicateWindow time.Duration
	// MaxAge per stream name; absent or zero keeps messages forever.
	MaxAge map[string]time.Duration
}

// Action says what Apply did to one resource.
type Action string

// The actions Apply reports.
const (
	Created   Action = "created"
	Updated   Action = "updated"
	Unchanged Action = "unchanged"
)

// Change is Apply's report on one resource.
type Change struct {
	Kind   string // "stream", "kv" or "object store"
	Name   string // PAYMENTS, batches, archive, ...
	Action Action
	// Detail lists what changed, e.g. "replicas 1 → 3".
	Detail string
}

func (c Change) String() string {
	s := fmt.Sprintf("%s %s %s", c.Kind, c.Name, c.Action)
	if c.Detail != "" {
		s += ": " + c.Detail
	}
	return s
}

// History kept per key in each bucket. batches keeps the last transitions of
// its state machine for inspection; intents and cursors need only the latest.
var bucketHistory = map[string]uint8{
	messages.BucketBatches: 10,
	messages.BucketIntents: 1,
	messages.BucketCursors: 5,
}

var bucketDescriptions = map[string]string{
	messages.BucketBatches: "isogate batch state machine, keyed by batch id (pain.001 MsgId)",
	messages.BucketIntents: "isogate intent id -> the batch that claimed it, or its rejection",
	messages.BucketCursors: "isogate last statement fetched per account and message type",
}

// dlqDuplicateWindow is how long the DLQ stream remembers dead-letter ids.
const dlqDuplicateWindow = 24 * time.Hour

// Streams returns the stream configurations Apply creates.
func Streams(o Options) []jetstream.StreamConfig {
	out := make([]jetstream.StreamConfig, 0, len(messages.Streams))
	for _, s := range messages.Streams {
		cfg := jetstream.StreamConfig{
			Name:        s.Name,
			Description: s.Description,
			Subjects:    s.Subjects,
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    o.Replicas,
			MaxAge:      o.MaxAge[s.Name],
			Discard:     jetstream.DiscardOld,
			// Direct gets let `isogate status` read the latest message of one
			// intent's subject without a consumer.
			AllowDirect: true,
		}
		switch s.Name {
		case "PAYMENTS":
			cfg.Duplicates = o.DuplicateWindow
			// The status poller may publish one pain.002's statuses as one
			// atomic batch (config nats.atomic_batches).
			cfg.AllowAtomicPublish = true
		case "DLQ":
			// A dead letter's Nats-Msg-Id is <stream>:<seq>:<worker>: a
			// worker that crashes between storing it and acking the
			// original stores no second copy within this window.
			cfg.Duplicates = dlqDuplicateWindow
		}
		out = append(out, cfg)
	}
	return out
}

// Apply makes the JetStream resources match o and reports, per resource,
// what it did. It stops at the first resource it cannot bring in line, with
// an error that names the resource, the setting and what to do.
func Apply(ctx context.Context, js jetstream.JetStream, o Options) ([]Change, error) {
	if o.Replicas < 1 {
		return nil, errors.New("provision: replicas must be at least 1")
	}
	var changes []Change
	for _, cfg := range Streams(o) {
		ch, err := ensure(ctx, js, "stream", cfg.Name, cfg.Name, managed(cfg), func() error {
			before, err := streamConfig(ctx, js, cfg.Name)
			if err != nil {
				return err
			}
			if before == nil {
				_, err = js.CreateStream(ctx, cfg)
				return err
			}
			// Keep settings isogate does not manage (an operator's sources,
			// placement, limits) and set only its own.
			next := *before
			next.Description, next.Subjects, next.Retention = cfg.Description, cfg.Subjects, cfg.Retention
			next.Replicas, next.MaxAge, next.Discard, next.AllowDirect = cfg.Replicas, cfg.MaxAge, cfg.Discard, cfg.AllowDirect
			if cfg.Duplicates > 0 {
				next.Duplicates = cfg.Duplicates
			}
			if cfg.AllowAtomicPublish {
				next.AllowAtomicPublish = true
			}
			_, err = js.UpdateStream(ctx, next)
			return err
		})
		if err != nil {
			return changes, err
		}
		changes = append(changes, ch)
	}
	for _, bucket := range []string{messages.BucketBatches, messages.BucketIntents, messages.BucketCursors} {
		kv := jetstream.KeyValueConfig{
			Bucket:      bucket,
			Description: bucketDescriptions[bucket],
			History:     bucketHistory[bucket],
			Storage:     jetstream.FileStorage,
			Replicas:    o.Replicas,
		}
		// The intents bucket may take a batch's claims as one atomic batch
		// publish (config nats.atomic_batches).
		want := settings{replicas: o.Replicas, storage: jetstream.FileStorage, history: int64(kv.History),
			atomic: bucket == messages.BucketIntents}
		ch, err := ensure(ctx, js, "kv", bucket, "KV_"+bucket, want, func() error {
			if _, err := js.CreateOrUpdateKeyValue(ctx, kv); err != nil {
				return err
			}
			if want.atomic {
				return allowAtomic(ctx, js, "KV_"+bucket)
			}
			return nil
		})
		if err != nil {
			return changes, err
		}
		changes = append(changes, ch)
	}
	obj := jetstream.ObjectStoreConfig{
		Bucket:      messages.ObjectStoreArchive,
		Description: "isogate archive: every XML file sent or received, content-addressed (SHA-256)",
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
	}
	want := settings{replicas: o.Replicas, storage: jetstream.FileStorage}
	ch, err := ensure(ctx, js, "object store", obj.Bucket, "OBJ_"+obj.Bucket, want, func() error {
		_, err := js.CreateOrUpdateObjectStore(ctx, obj)
		return err
	})
	if err != nil {
		return changes, err
	}
	return append(changes, ch), nil
}

// settings are the values isogate manages on a backing stream; zero fields
// are not compared.
type settings struct {
	replicas   int
	storage    jetstream.StorageType
	maxAge     time.Duration
	duplicates time.Duration
	history    int64
	subjects   []string
	compareAge bool
	// atomic: allow_atomic (atomic batch publish, NATS 2.12 and later) is
	// wanted. A server that does not keep it is not an error: the claims
	// it serves are then written one by one.
	atomic bool
}

func managed(cfg jetstream.StreamConfig) settings {
	return settings{
		replicas:   cfg.Replicas,
		storage:    cfg.Storage,
		maxAge:     cfg.MaxAge,
		duplicates: cfg.Duplicates,
		subjects:   cfg.Subjects,
		compareAge: true,
		atomic:     cfg.AllowAtomicPublish,
	}
}

// diff lists how have differs from want, as "setting old → new" phrases.
func diff(have *jetstream.StreamConfig, want settings) []string {
	var d []string
	if have.Replicas != want.replicas {
		d = append(d, fmt.Sprintf("replicas %d → %d", have.Replicas, want.replicas))
	}
	if have.Storage != want.storage {
		d = append(d, fmt.Sprintf("storage %s → %s", storage(have.Storage), storage(want.storage)))
	}
	if want.compareAge && have.MaxAge != want.maxAge {
		d = append(d, fmt.Sprintf("max_age %s → %s", age(have.MaxAge), age(want.maxAge)))
	}
	if want.duplicates > 0 && have.Duplicates != want.duplicates {
		d = append(d, fmt.Sprintf("duplicate_window %s → %s", have.Duplicates, want.duplicates))
	}
	if want.history > 0 && have.MaxMsgsPerSubject != want.history {
		d = append(d, fmt.Sprintf("history %d → %d", have.MaxMsgsPerSubject, want.history))
	}
	if want.subjects != nil && !slices.Equal(have.Subjects, want.subjects) {
		d = append(d, fmt.Sprintf("subjects %v → %v", have.Subjects, want.subjects))
	}
	if want.atomic && !have.AllowAtomicPublish {
		d = append(d, "allow_atomic false → true")
	}
	return d
}

func storage(s jetstream.StorageType) string { return strings.ToLower(s.String()) }

func age(d time.Duration) string {
	if d == 0 {
		return "forever"
	}
	return d.String()
}

// ensure runs apply for one resource whose data lives in the stream named
// backing, and reports what changed. Changes JetStream refuses to make in
// place are refused here first, with advice.
func ensure(ctx context.Context, js jetstream.JetStream, kind, name, backing string, want settings, apply func() error) (Change, error) {
	ch := Change{Kind: kind, Name: name}
	before, err := streamConfig(ctx, js, backing)
	if err != nil {
		return ch, fmt.Errorf("provision: reading %s %s: %w", kind, name, err)
	}
	var pending []string
	if before != nil {
		pending = diff(before, want)
		if before.Storage != want.storage {
			return ch, fmt.Errorf("provision: %s %s is stored as %s; isogate needs %s storage and JetStream cannot convert a stream in place: back it up, delete it (nats stream rm %s) and start again",
				kind, name, storage(before.Storage), storage(want.storage), backing)
		}
		if len(pending) == 0 {
			ch.Action = Unchanged
			return ch, nil
		}
	}
	if err := apply(); err != nil {
		if before == nil {
			ch.Action = Created
			return ch, &applyError{ch, fmt.Errorf("provision: creating %s %s: %w%s", kind, name, err, advice(err, want.replicas))}
		}
		ch.Action, ch.Detail = Updated, strings.Join(pending, ", ")
		return ch, &applyError{ch, fmt.Errorf("provision: updating %s %s (%s): %w%s", kind, name, ch.Detail, err, advice(err, want.replicas))}
	}
	if before == nil {
		ch.Action = Created
		return ch, nil
	}
	after, err := streamConfig(ctx, js, backing)
	if err != nil {
		return ch, fmt.Errorf("provision: reading %s %s after update: %w", kind, name, err)
	}
	required := want
	required.atomic = false
	if left := diff(after, required); len(left) > 0 {
		return ch, fmt.Errorf("provision: %s %s still differs after update: %s", kind, name, strings.Join(left, ", "))
	}
	ch.Action, ch.Detail = Updated, strings.Join(pending, ", ")
	if want.atomic && !after.AllowAtomicPublish {
		ch.Detail += " (this server has no atomic batch publish: claims are written one by one)"
	}
	return ch, nil
}

// allowAtomic sets allow_atomic on stream name. A server without atomic
// batch publish (before NATS 2.12) ignores the setting.
func allowAtomic(ctx context.Context, js jetstream.JetStream, name string) error {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return err
	}
	cfg := s.CachedInfo().Config
	if cfg.AllowAtomicPublish {
		return nil
	}
	cfg.AllowAtomicPublish = true
	_, err = js.UpdateStream(ctx, cfg)
	return err
}

// advice turns the JetStream errors operators meet when changing settings
// into a next step.
func advice(err error, replicas int) string {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return ""
	}
	msg := strings.ToLower(apiErr.Description)
	switch {
	case apiErr.ErrorCode == errReplicasNotSupported:
		return fmt.Sprintf(" (nats.streams.replicas is %d: a single NATS server holds 1 replica; use a cluster of at least %d servers or set replicas to 1)", replicas, replicas)
	case apiErr.ErrorCode == errNoSuitablePeers || strings.Contains(msg, "insufficient resources"):
		return fmt.Sprintf(" (nats.streams.replicas is %d: the cluster needs at least %d servers online with JetStream and free storage)", replicas, replicas)
	case strings.Contains(msg, "subjects overlap"):
		return " (another stream already captures these subjects: remove or rename it)"
	}
	return ""
}

// JetStream error codes provisioning decides on.
const (
	errNoSuitablePeers      jetstream.ErrorCode = 10005 // a peer is offline, or too few peers
	errClusterNotAvailable  jetstream.ErrorCode = 10008 // meta leader not elected yet
	errClusterNotLeader     jetstream.ErrorCode = 10009
	errReplicasNotSupported jetstream.ErrorCode = 10074 // replicas > 1 on a single server
)

// Transient reports whether err may go away by itself: a cluster still
// forming (no meta leader, a peer not yet seen) or a request that timed
// out. A configuration JetStream refuses is not transient.
func Transient(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case errNoSuitablePeers, errClusterNotAvailable, errClusterNotLeader:
			return true
		}
		return false
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabled)
}

// ApplyWithRetry runs Apply until it succeeds, fails for a reason that is
// not [Transient], or ctx ends, waiting between attempts (doubling from
// 250 ms up to 5 s). Each attempt gets at most [AttemptTimeout], so one
// request a busy cluster leaves unanswered does not use up ctx. Apply is
// idempotent, so a rerun only does what is left; the report says what all
// attempts together did. onRetry, when set, hears about each transient
// failure.
func ApplyWithRetry(ctx context.Context, js jetstream.JetStream, o Options, onRetry func(attempt int, err error)) ([]Change, error) {
	wait := 250 * time.Millisecond
	r := retryReport{done: map[string]Change{}, inDoubt: map[string]Change{}}
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, AttemptTimeout)
		changes, err := Apply(actx, js, o)
		cancel()
		r.merge(changes, err)
		if err == nil || !Transient(err) || ctx.Err() != nil {
			return changes, err
		}
		if onRetry != nil {
			onRetry(attempt, err)
		}
		select {
		case <-ctx.Done():
			return changes, fmt.Errorf("%w (gave up: %w)", err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// AttemptTimeout bounds one attempt of [ApplyWithRetry]. Creating a
// replicated stream waits for its Raft group to elect a leader, which after
// a split vote takes another 4 to 9 seconds.
const AttemptTimeout = 10 * time.Second

// applyError is Apply's error for a create or update JetStream did not
// confirm; change is what the request asked for.
type applyError struct {
	change Change
	err    error
}

func (e *applyError) Error() string { return e.err.Error() }
func (e *applyError) Unwrap() error { return e.err }

// retryReport joins the reports of several Apply attempts into one.
type retryReport struct {
	// done: what earlier attempts created or updated.
	done map[string]Change
	// inDoubt: a create or update whose request failed transiently (a
	// timeout, a leader change). The server may still have made it.
	inDoubt map[string]Change
}

// merge rewrites changes, one attempt's report, in place to say what all
// attempts so far did, given the attempt's error. A resource a later
// attempt finds unchanged was made by an earlier one: it keeps that
// attempt's action, also when that attempt's request went unanswered and
// the resource turned out as it asked.
func (r retryReport) merge(changes []Change, err error) {
	for i, c := range changes {
		key := c.Kind + " " + c.Name
		switch {
		case c.Action != Unchanged:
			r.done[key] = c
		case r.done[key].Action != "":
			changes[i] = r.done[key]
		case r.inDoubt[key].Action != "":
			changes[i] = r.inDoubt[key]
			r.done[key] = changes[i]
		}
	}
	var ae *applyError
	if errors.As(err, &ae) && Transient(err) {
		r.inDoubt[ae.change.Kind+" "+ae.change.Name] = ae.change
	}
}

// streamConfig returns the configuration of stream name, or nil when it does
// not exist.
func streamConfig(ctx context.Context, js jetstream.JetStream, name string) (*jetstream.StreamConfig, error) {
	s, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	cfg := info.Config
	return &cfg, nil
}

// Check reports whether every stream, bucket and object store exists, for
// readiness probes. The error names the first one missing.
func Check(ctx context.Context, js jetstream.JetStream) error {
	names := make([]string, 0, len(messages.Streams)+4)
	for _, s := range messages.Streams {
		names = append(names, s.Name)
	}
	names = append(names, "KV_"+messages.BucketBatches, "KV_"+messages.BucketIntents, "KV_"+messages.BucketCursors, "OBJ_"+messages.ObjectStoreArchive)
	for _, n := range names {
		if _, err := js.Stream(ctx, n); err != nil {
			return fmt.Errorf("stream %s: %w", n, err)
		}
	}
	return nil
}
