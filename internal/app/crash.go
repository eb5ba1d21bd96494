package app

import (
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"

	"github.com/isogate/isogate/internal/config"
	"github.com/isogate/isogate/workers/encoder"
	"github.com/isogate/isogate/workers/statuspoller"
	"github.com/isogate/isogate/workers/submitter"
)

// crashPoints are the named points each worker calls its crash hook at.
var crashPoints = map[string][]string{
	config.WorkerEncoder: {encoder.CrashCreated, encoder.CrashClaimed, encoder.CrashArchived,
		encoder.CrashTransitioned, encoder.CrashPublished, encoder.CrashAcking},
	config.WorkerSubmitter: {submitter.CrashAfterCAS, submitter.CrashAfterUpload, submitter.CrashAfterInDoubt,
		submitter.CrashBeforeAck},
	config.WorkerStatusPoller: {statuspoller.CrashBeforePublish, statuspoller.CrashAfterPublish},
}

// crashHook returns the crash hook cfg.CrashAt arms for worker, or nil when
// it arms none. The hook kills the process with SIGKILL — no deferred
// function runs, nothing is flushed or acknowledged — the N-th time the
// worker reaches the point, after logging which point it was. It refuses
// an unknown point, and any crash_at in a binary built without -tags chaos.
func (g *Gateway) crashHook(worker string) (func(point string), error) {
	if g.cfg.CrashAt == "" {
		return nil, nil
	}
	if !crashHooksBuilt {
		return nil, fmt.Errorf("crash_at %q: crash hooks exist only in binaries built with -tags chaos", g.cfg.CrashAt)
	}
	w, point, n, err := config.ParseCrashAt(g.cfg.CrashAt)
	if err != nil {
		return nil, fmt.Errorf("crash_at: %w", err)
	}
	if !slices.Contains(crashPoints[w], point) {
		return nil, fmt.Errorf("crash_at %q: %s has no crash point %q (it has %v)", g.cfg.CrashAt, w, point, crashPoints[w])
	}
	if w != worker {
		return nil, nil
	}
	var hits atomic.Int64
	log := g.log
	return func(p string) {
		if p != point || hits.Add(1) != int64(n) {
			return
		}
		log.Error("crash hook: killing the process", slog.String("worker", worker), slog.String("point", p),
			slog.Int("hit", n))
		killSelf()
	}, nil
}
