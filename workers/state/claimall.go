package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers"
)

// A ClaimResult is the outcome of one intent of [Intents.ClaimAll], as
// [Intents.Claim] would return it.
type ClaimResult struct {
	Record *Intent // the record: this batch's claim, or the one that holds the id
	Mine   bool    // the intent belongs to the batch
	Err    error   // the claim's outcome is unknown
}

// ClaimAll claims every intent of ids for batch batchID, as [Intents.Claim]
// does one at a time, but sends the create-only writes as one burst of
// asynchronous publishes on js (the gateway's JetStream context, which must
// see the intents bucket as this registry does) and waits for their
// acknowledgements together: a batch of n intents costs about one round
// trip instead of n. Each write carries Nats-Expected-Last-Subject-Sequence
// 0, which is what a key-value Create sends, so of any number of concurrent
// claims of an id exactly one is stored. A write refused because the key
// has a history (claimed, rejected, or released by a failed batch) is
// decided by [Intents.Claim] itself. results[i] is the outcome for ids[i].
// At most claimBurst writes of one call are outstanding at once; a write
// the context's window has no room for is sent synchronously instead.
func (in *Intents) ClaimAll(ctx context.Context, js jetstream.JetStream, batchID string, ids []string) []ClaimResult {
	results := make([]ClaimResult, len(ids))
	for start := 0; start < len(ids); start += claimBurst {
		end := min(start+claimBurst, len(ids))
		if in.useAtomic(ctx, js) && in.claimAtomic(ctx, js, batchID, ids[start:end], results[start:end]) {
			continue
		}
		in.claimBurst(ctx, js, batchID, ids[start:end], results[start:end])
	}
	return results
}

// States of Intents.atomic.
const (
	atomicUnknown int32 = iota
	atomicOn
	atomicOff
)

// useAtomic reports whether claims go as atomic batches: asked for
// ([Options.AtomicClaims]) and allowed by the bucket's stream, as the
// server reports its configuration (a server without atomic publishing
// does not report the setting). Asked once; a failed question is asked
// again next time.
func (in *Intents) useAtomic(ctx context.Context, js jetstream.JetStream) bool {
	switch in.atomic.Load() {
	case atomicOn:
		return true
	case atomicOff:
		return false
	}
	s, err := js.Stream(ctx, "KV_"+in.kv.Bucket())
	if err != nil {
		return false
	}
	if s.CachedInfo().Config.AllowAtomicPublish {
		in.atomic.Store(atomicOn)
		return true
	}
	in.atomic.Store(atomicOff)
	return false
}

// claimAtomic claims ids for batchID as one atomic batch publish: every
// create-only write but the last is staged on the server
// (Nats-Batch-Id, Nats-Batch-Sequence; no answer), the last commits
// (Nats-Batch-Commit), and the server stores them all, under one fsync,
// or none — a write whose key has a history refuses the whole batch. It
// reports true, having set results, only when the server's answer
// confirms the whole batch as stored (its batch id and count); otherwise
// false, setting nothing, and the caller claims the ids one by one, which
// decides each on what the bucket holds: a claim of this batch stored
// after all (an answer lost, a server that stored the staged writes as
// plain publishes) is found as this batch's and kept.
func (in *Intents) claimAtomic(ctx context.Context, js jetstream.JetStream, batchID string, ids []string, results []ClaimResult) bool {
	if len(ids) == 0 {
		return true
	}
	prefix := "$KV." + in.kv.Bucket() + "."
	recs := make([]*Intent, len(ids))
	msgs := make([]*nats.Msg, len(ids))
	for i, id := range ids {
		if err := checkIDs(id, batchID); err != nil {
			return false // the one-by-one path reports it
		}
		now := in.opts.Now().UTC()
		recs[i] = &Intent{ID: id, BatchID: batchID, ClaimedAt: now, UpdatedAt: now}
		data, err := json.Marshal(recs[i])
		if err != nil {
			return false
		}
		msgs[i] = &nats.Msg{Subject: prefix + messages.SubjectToken(id), Data: data, Header: nats.Header{}}
		msgs[i].Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
	}
	seqs, err := workers.PublishAtomic(ctx, js.Conn(), msgs)
	if errors.Is(err, workers.ErrAtomicDisabled) {
		in.atomic.Store(atomicOff) // allow_atomic taken off since: stop trying
	}
	if err != nil {
		return false
	}
	for i, rec := range recs {
		rec.Revision = seqs[i]
		results[i] = ClaimResult{Record: rec, Mine: true}
	}
	in.commits.Add(1)
	return true
}

// claimBurst bounds the claims of one ClaimAll sent together: the
// asynchronous claims outstanding, or one atomic batch; claimStallWait is how long one waits for room in the JetStream
// context's window (4,000 unacknowledged async publishes by default, which
// concurrent flushes share) before it is claimed synchronously instead.
const claimBurst = workers.MaxAtomicBatch

var claimStallWait = 2 * time.Second // a variable for the tests

func (in *Intents) claimBurst(ctx context.Context, js jetstream.JetStream, batchID string, ids []string, results []ClaimResult) {
	prefix := "$KV." + in.kv.Bucket() + "."
	futures := make([]jetstream.PubAckFuture, len(ids))
	full := false // the window had no room: the rest go synchronously
	recs := make([]*Intent, len(ids))
	for i, id := range ids {
		if err := checkIDs(id, batchID); err != nil {
			results[i].Err = err
			continue
		}
		now := in.opts.Now().UTC()
		rec := &Intent{ID: id, BatchID: batchID, ClaimedAt: now, UpdatedAt: now}
		data, err := json.Marshal(rec)
		if err != nil {
			results[i].Err = fmt.Errorf("state: encoding intent %s: %w", id, err)
			continue
		}
		msg := &nats.Msg{Subject: prefix + messages.SubjectToken(id), Data: data, Header: nats.Header{}}
		msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
		var f jetstream.PubAckFuture
		if !full {
			f, err = js.PublishMsgAsync(msg, jetstream.WithStallWait(claimStallWait))
			full = err != nil
		}
		if f == nil {
			// Not sent (the context's window of unacknowledged async
			// publishes stayed full, shared with other flushes): claim
			// it, and the rest of this burst, the synchronous way.
			rec, mine, err := in.Claim(ctx, id, batchID)
			results[i] = ClaimResult{Record: rec, Mine: mine, Err: err}
			continue
		}
		futures[i], recs[i] = f, rec
	}
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case ack := <-f.Ok():
			recs[i].Revision = ack.Sequence
			results[i] = ClaimResult{Record: recs[i], Mine: true}
			continue
		case err := <-f.Err():
			var apiErr *jetstream.APIError
			if !errors.As(err, &apiErr) || (apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence &&
				apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
				results[i].Err = fmt.Errorf("state: claiming intent %s for batch %s: %w", ids[i], batchID, err)
				continue
			}
		case <-ctx.Done():
			results[i].Err = fmt.Errorf("state: claiming intent %s for batch %s: %w", ids[i], batchID, ctx.Err())
			continue
		}
		// The key has a history: let Claim decide (an existing claim, a
		// rejection, or a release's delete marker it may write over).
		rec, mine, err := in.Claim(ctx, ids[i], batchID)
		results[i] = ClaimResult{Record: rec, Mine: mine, Err: err}
	}
}
