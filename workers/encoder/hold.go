package encoder

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/messages"
)

// recheck is how often a held batch looks at the backlog again: a quarter
// of the wait, from 10 ms to 1 s.
func recheck(wait time.Duration) time.Duration {
	return min(max(wait/4, 10*time.Millisecond), time.Second)
}

// expire runs when a batch's Wait, or a recheck of a held batch, is up. It
// closes the batch, or keeps it collecting while the submitter is behind
// (see [Config.MaxHold]).
func (h *Handler) expire(g *pending) {
	next, ok := h.holdable(g)
	if ok && h.backlog.behind(h.base) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if g.closed {
			return
		}
		if !g.held {
			g.held = true
			h.m.held.Inc()
		}
		g.timer.Reset(next)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closeLocked(g)
}

// holdable reports whether batch g may collect longer, and until when it
// looks again: it is open, MaxHold is not up, and the encoder has room for
// another pull's worth of intents (a batch that cannot grow gains nothing
// from waiting).
func (h *Handler) holdable(g *pending) (time.Duration, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	left := g.opened.Add(h.cfg.MaxHold).Sub(h.now())
	if g.closed || left <= 0 || len(h.inflight)+h.cfg.FetchBatch > h.cfg.Concurrency {
		return 0, false
	}
	return min(recheck(h.cfg.Wait), left), true
}

// backlog reads whether the submitter's consumer ([Downstream]) has
// messages it has not been delivered yet. Batches that ask within ttl of a
// reading share it, so a backlog costs one JetStream API request per ttl,
// not one per batch. A consumer that cannot be read counts as not behind:
// holding a batch makes a larger file, it is never what a flush waits for.
type backlog struct {
	js  jetstream.JetStream
	ttl time.Duration

	mu   sync.Mutex // one reading at a time
	at   time.Time
	last bool
	c    jetstream.Consumer
}

func (b *backlog) behind(ctx context.Context) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.at.IsZero() && time.Since(b.at) < b.ttl {
		return b.last
	}
	b.last = b.read(ctx)
	b.at = time.Now()
	return b.last
}

func (b *backlog) read(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if b.c == nil {
		c, err := b.js.Consumer(ctx, messages.StreamPayments, Downstream)
		if err != nil {
			return false
		}
		b.c = c
		return c.CachedInfo().NumPending > 0
	}
	info, err := b.c.Info(ctx)
	if err != nil {
		b.c = nil // looked up again next time: it may have been re-created
		return false
	}
	return info.NumPending > 0
}
