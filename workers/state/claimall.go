package state

import (
	"context"
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
// does one at a time, but sends the create-only writes together on js (the
// gateway's JetStream context, which must see the intents bucket as this
// registry does), up to claimBurst at a time: as one atomic batch publish
// with [Options.AtomicClaims] where the bucket allows it — stored whole
// or not at all, under one fsync — and otherwise, or when the batch is not
// stored whole, as a burst of asynchronous publishes whose
// acknowledgements are awaited together: a batch of n intents costs about
// one round trip instead of n. Each write carries
// Nats-Expected-Last-Subject-Sequence 0, which is what a key-value Create
// sends, so of any number of concurrent claims of an id exactly one is
// stored. A write refused because the key has a history (claimed,
// rejected, or released by a failed batch) is decided by [Intents.Claim]
// itself. results[i] is the outcome for ids[i]. A write the context's
// window of asynchronous publishes has no room for is sent synchronously
// instead.
func (in *Intents) ClaimAll(ctx context.Context, js jetstream.JetStream, batchID string, ids []string) []ClaimResult {
	in.atomicOnce.Do(func() {
		in.atomicClaims = workers.NewAtomicStream(js, "KV_"+in.kv.Bucket(), in.opts.AtomicClaims)
	})
	results := make([]ClaimResult, len(ids))
	for start := 0; start < len(ids); start += claimBurst {
		end := min(start+claimBurst, len(ids))
		if in.atomicClaims.Allowed(ctx) && in.claimAtomic(ctx, batchID, ids[start:end], results[start:end]) {
			continue
		}
		in.claimBurst(ctx, js, batchID, ids[start:end], results[start:end])
	}
	return results
}

// claimMsg is the create-only write that claims intentID for batchID, and
// the record it stores.
func (in *Intents) claimMsg(intentID, batchID string) (*Intent, *nats.Msg, error) {
	if err := checkIDs(intentID, batchID); err != nil {
		return nil, nil, err
	}
	rec := &Intent{ID: intentID, BatchID: batchID, ClaimedAt: in.opts.Now().UTC()}
	data, err := rec.marshal()
	if err != nil {
		return nil, nil, fmt.Errorf("state: encoding intent %s: %w", intentID, err)
	}
	msg := &nats.Msg{Subject: "$KV." + in.kv.Bucket() + "." + messages.SubjectToken(intentID), Data: data, Header: nats.Header{}}
	msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
	return rec, msg, nil
}

// claimAtomic claims ids for batchID as one atomic batch publish
// ([workers.PublishAtomic]): the server stores every claim or none — a
// write whose key has a history refuses the whole batch. It reports true,
// having set results, only when the server confirmed the whole batch as
// stored; otherwise false, setting nothing, and the caller claims the ids
// one by one, which decides each on what the bucket holds: a claim of
// this batch stored after all (an answer lost, a server that stored the
// staged writes as plain publishes) is found as this batch's and kept.
func (in *Intents) claimAtomic(ctx context.Context, batchID string, ids []string, results []ClaimResult) bool {
	if len(ids) == 0 {
		return true
	}
	recs := make([]*Intent, len(ids))
	msgs := make([]*nats.Msg, len(ids))
	for i, id := range ids {
		var err error
		if recs[i], msgs[i], err = in.claimMsg(id, batchID); err != nil {
			return false // the one-by-one path reports it
		}
	}
	seqs, err := in.atomicClaims.Publish(ctx, msgs)
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
// asynchronous claims outstanding, or one atomic batch. claimStallWait is
// how long one waits for room in the JetStream context's window (4,000
// unacknowledged async publishes by default, which concurrent flushes
// share) before it is claimed synchronously instead.
const claimBurst = workers.MaxAtomicBatch

var claimStallWait = 2 * time.Second // a variable for the tests

func (in *Intents) claimBurst(ctx context.Context, js jetstream.JetStream, batchID string, ids []string, results []ClaimResult) {
	futures := make([]jetstream.PubAckFuture, len(ids))
	full := false // the window had no room: the rest go synchronously
	recs := make([]*Intent, len(ids))
	for i, id := range ids {
		rec, msg, err := in.claimMsg(id, batchID)
		if err != nil {
			results[i].Err = err
			continue
		}
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
			if !workers.IsWrongLastSequence(err) {
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
