package workers_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/isogate/isogate/workers"
)

// TestDeadLetterOfALargeMessage gives up on a message near max_payload:
// its data (base64, a third larger) cannot go into the dead letter, which
// is stored without it and points at the original, kept in its stream.
func TestDeadLetterOfALargeMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(t, workers.Worker{Name: "large", Consumer: spec("large"), Handler: func(*message.Message) error {
		return workers.Permanent(fmt.Errorf("too large to read"))
	}}, 5*time.Second)
	body := bytes.Repeat([]byte("x"), 900_000)
	seq := e.publish(t, "pay.test.large.1", body, map[string]string{workers.MetaMsgID: "big-1"})
	waitFor(t, 10*time.Second, "the message to be dead-lettered and acked", func() bool { return e.settled(t, "large", seq) })

	dls, _ := e.deadLetters(t, "large")
	if len(dls) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dls))
	}
	dl := dls[0]
	want := fmt.Sprintf("read them from stream PAYMENTS, sequence %d", seq)
	if len(dl.Data) != 0 || dl.StreamSeq != seq || !strings.Contains(dl.Error, "too large to read") || !strings.Contains(dl.Error, want) {
		t.Errorf("dead letter: %d bytes of data, stream seq %d, error %q; want no data, seq %d, an error …%s…", len(dl.Data), dl.StreamSeq, dl.Error, seq, want)
	}
	if got := e.stored(t, "PAYMENTS", "pay.test.large.1"); len(got) != 1 || !bytes.Equal(got[0].Data, body) {
		t.Error("the original is not in its stream as published")
	}
}
