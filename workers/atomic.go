package workers

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// The atomic batch publish headers (NATS 2.12 and later, ADR-50).
const (
	headerBatchID     = "Nats-Batch-Id"
	headerBatchSeq    = "Nats-Batch-Sequence"
	headerBatchCommit = "Nats-Batch-Commit"
)

// MaxAtomicBatch is the most messages one atomic batch may hold: the
// server's default limit (JetStream max_batch_size, 1,000), halved.
const MaxAtomicBatch = 500

// ErrAtomicDisabled reports an atomic batch refused because its stream
// does not allow atomic publishing (allow_atomic).
var ErrAtomicDisabled = errors.New("workers: atomic publish is disabled on the stream")

// errCodeAtomicPublishDisabled is JetStream's error code for an atomic
// batch sent to a stream without allow_atomic.
const errCodeAtomicPublishDisabled = 10174

// PublishAtomic publishes msgs, all to one stream, as one atomic batch:
// every message but the last is staged on the server without an answer,
// the last commits, and the stream stores them all — in order, at
// consecutive sequences, under one fsync where it fsyncs every write — or
// none. Each message keeps its own publish checks (an expected last
// subject sequence, a Nats-Msg-Id), and one failing refuses the batch.
//
// It returns the sequence each message was stored at, only when the
// server's answer confirms the whole batch (its id and count). Otherwise
// it returns an error, and what the stream holds is not known: the
// staged messages may have been stored as a batch whose answer was lost,
// or — by a server without atomic publishing, which ignores the headers —
// one by one. Callers therefore fall back to publishing each message with
// checks that find what is already stored. The stream must allow atomic
// publishing; msgs must not be empty and hold at most [MaxAtomicBatch].
// The messages' headers are modified.
func PublishAtomic(ctx context.Context, nc *nats.Conn, msgs []*nats.Msg) ([]uint64, error) {
	if len(msgs) == 0 || len(msgs) > MaxAtomicBatch {
		return nil, errors.New("workers: an atomic batch holds 1 to " + strconv.Itoa(MaxAtomicBatch) + " messages")
	}
	batch := nuid.Next()
	for i, m := range msgs {
		if m.Header == nil {
			m.Header = nats.Header{}
		}
		m.Header.Set(headerBatchID, batch)
		m.Header.Set(headerBatchSeq, strconv.Itoa(i+1))
		if i == len(msgs)-1 {
			break
		}
		if err := nc.PublishMsg(m); err != nil {
			return nil, err
		}
	}
	commit := msgs[len(msgs)-1]
	commit.Header.Set(headerBatchCommit, "1")
	reply, err := nc.RequestMsgWithContext(ctx, commit)
	if err != nil {
		return nil, err
	}
	var ack struct {
		Seq   uint64 `json:"seq"`
		Batch string `json:"batch"`
		Count int    `json:"count"`
		Error *struct {
			Code        int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(reply.Data, &ack); err != nil {
		return nil, errors.New("workers: atomic batch: undecodable answer: " + err.Error())
	}
	switch {
	case ack.Error != nil && ack.Error.Code == errCodeAtomicPublishDisabled:
		return nil, ErrAtomicDisabled
	case ack.Error != nil:
		return nil, errors.New("workers: atomic batch refused: " + ack.Error.Description + " (" + strconv.Itoa(ack.Error.Code) + ")")
	case ack.Batch != batch || ack.Count != len(msgs) || ack.Seq < uint64(len(msgs)):
		return nil, errors.New("workers: atomic batch: the answer does not confirm the batch")
	}
	seqs := make([]uint64, len(msgs))
	for i := range msgs {
		seqs[i] = ack.Seq - uint64(len(msgs)-1-i)
	}
	return seqs, nil
}

// An AtomicStream publishes atomic batches to one stream when that stream
// allows them. Whether it does is asked once, from the configuration the
// server reports (a server without atomic publishing does not report the
// setting), and a batch refused because the setting was taken off since
// stops further attempts. Safe for concurrent use; the zero value is not:
// use [NewAtomicStream].
type AtomicStream struct {
	js    jetstream.JetStream
	name  string
	state atomic.Int32 // atomicUnknown, atomicOn, atomicOff
}

// States of AtomicStream.state.
const (
	atomicUnknown int32 = iota
	atomicOn
	atomicOff
)

// NewAtomicStream returns the publisher of atomic batches to stream name
// through js; with on false it never publishes one ([AtomicStream.Allowed]
// is false).
func NewAtomicStream(js jetstream.JetStream, name string, on bool) *AtomicStream {
	a := &AtomicStream{js: js, name: name}
	if !on {
		a.state.Store(atomicOff)
	}
	return a
}

// Allowed reports whether atomic batches go to the stream. A failed
// question (NATS unreachable) says no and is asked again next time.
func (a *AtomicStream) Allowed(ctx context.Context) bool {
	switch a.state.Load() {
	case atomicOn:
		return true
	case atomicOff:
		return false
	}
	s, err := a.js.Stream(ctx, a.name)
	if err != nil {
		return false
	}
	if s.CachedInfo().Config.AllowAtomicPublish {
		a.state.Store(atomicOn)
		return true
	}
	a.state.Store(atomicOff)
	return false
}

// Publish is [PublishAtomic] on the stream's connection; a batch refused
// with [ErrAtomicDisabled] turns the stream's atomic batches off.
func (a *AtomicStream) Publish(ctx context.Context, msgs []*nats.Msg) ([]uint64, error) {
	seqs, err := PublishAtomic(ctx, a.js.Conn(), msgs)
	if errors.Is(err, ErrAtomicDisabled) {
		a.state.Store(atomicOff)
	}
	return seqs, err
}
