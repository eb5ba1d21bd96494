package workers

import (
	"bytes"
	"io"
	"log/slog"
	"testing"
)

// TestDeliveryLogger: the delivery's attributes come out exactly where
// base.With would put them — before the record's own, outside a group,
// kept by With — and a disabled level writes nothing.
func TestDeliveryLogger(t *testing.T) {
	t.Parallel()
	noTime := func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	play := func(log *slog.Logger) {
		log.Debug("hidden", "k", "v")
		log.Warn("handling failed", "error", "boom")
		log.With("extra", 1).Info("with", "k", "v")
		log.WithGroup("g").With("in", true).Info("grouped", "k", "v")
	}
	attrs := []slog.Attr{slog.String("worker", "encoder"), slog.Uint64("stream_seq", 7), slog.String("intent_id", "INV-1")}
	var got, want bytes.Buffer
	opts := &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: noTime}
	play(deliveryLogger(slog.New(slog.NewTextHandler(&got, opts)), attrs))
	args := make([]any, len(attrs))
	for i, a := range attrs {
		args[i] = a
	}
	play(slog.New(slog.NewTextHandler(&want, opts)).With(args...))
	if got.String() != want.String() {
		t.Errorf("deliveryLogger wrote\n%s\nbase.With writes\n%s", got.String(), want.String())
	}
	if n := bytes.Count(got.Bytes(), []byte("\n")); n != 3 {
		t.Errorf("%d lines, want 3:\n%s", n, got.String())
	}
}

// BenchmarkDeliveryLogger is the logging middleware's cost for a delivery
// that logs only its debug line, at info level: base.With against
// deliveryLogger.
func BenchmarkDeliveryLogger(b *testing.B) {
	base := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	attrs := []slog.Attr{slog.String("worker", "encoder"), slog.String("subject", "pay.intent.INV-000001"),
		slog.Uint64("stream_seq", 7), slog.Int("attempt", 1), slog.String("intent_id", "INV-000001")}
	b.Run("With", func(b *testing.B) {
		args := make([]any, len(attrs))
		for i, a := range attrs {
			args[i] = a
		}
		for b.Loop() {
			base.With(args...).Debug("handled")
		}
	})
	b.Run("deliveryLogger", func(b *testing.B) {
		for b.Loop() {
			deliveryLogger(base, attrs).Debug("handled")
		}
	})
}
