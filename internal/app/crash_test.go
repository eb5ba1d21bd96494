package app

import (
	"strings"
	"testing"

	"github.com/isogate/isogate/internal/config"
)

func TestCrashHookNeedsChaosBuild(t *testing.T) {
	cfg := config.Default()
	g := &Gateway{cfg: &cfg}
	if hook, err := g.crashHook(config.WorkerEncoder); hook != nil || err != nil {
		t.Fatalf("crashHook without crash_at = %v, %v; want nil, nil", hook != nil, err)
	}
	cfg.CrashAt = "encoder:claimed:2"
	hook, err := g.crashHook(config.WorkerEncoder)
	if crashHooksBuilt {
		if err != nil || hook == nil {
			t.Fatalf("crashHook in a chaos build = %v, %v; want a hook", hook != nil, err)
		}
	} else if err == nil || !strings.Contains(err.Error(), "-tags chaos") {
		t.Fatalf("crashHook in a default build: error = %v, want one naming -tags chaos", err)
	}
}

func TestCrashHookRefusesUnknownPoint(t *testing.T) {
	if !crashHooksBuilt {
		t.Skip("crash points are checked only in chaos builds (the default build refuses any crash_at)")
	}
	cfg := config.Default()
	cfg.CrashAt = "submitter:claimed"
	g := &Gateway{cfg: &cfg}
	if _, err := g.crashHook(config.WorkerSubmitter); err == nil || !strings.Contains(err.Error(), "no crash point") {
		t.Fatalf("crashHook(submitter:claimed) error = %v, want no crash point", err)
	}
}
