package natstest

import (
	"context"
	"sync/atomic"

	"github.com/nats-io/nats.go/jetstream"
)

// CountLastReads wraps js so that every GetLastMsgForSubject on a stream
// it opens adds one to n: how often code under test read a subject's last
// message (a test's own reads go through the unwrapped context).
func CountLastReads(js jetstream.JetStream, n *atomic.Int64) jetstream.JetStream {
	return lastReadCounter{JetStream: js, n: n}
}

type lastReadCounter struct {
	jetstream.JetStream
	n *atomic.Int64
}

func (j lastReadCounter) Stream(ctx context.Context, name string) (jetstream.Stream, error) {
	s, err := j.JetStream.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	return lastReadStream{Stream: s, n: j.n}, nil
}

type lastReadStream struct {
	jetstream.Stream
	n *atomic.Int64
}

func (s lastReadStream) GetLastMsgForSubject(ctx context.Context, subject string) (*jetstream.RawStreamMsg, error) {
	s.n.Add(1)
	return s.Stream.GetLastMsgForSubject(ctx, subject)
}
