package workers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/messages"
)

// LastStatus reads the last pay.status event of an intent from the PAYMENTS
// stream: the intent's payment status as the bank last reported it. The
// subject pay.status.<intent> is where an intent's status lives; no other
// record keeps it. It returns the event and its stream sequence. The event
// is nil when the intent has no status yet (sequence 0), and also when the
// subject ends with a message that is not a status event of this intent
// (sequence > 0: a status published after it expects that sequence).
func LastStatus(ctx context.Context, payments jetstream.Stream, intentID string) (*messages.PaymentStatus, uint64, error) {
	raw, err := payments.GetLastMsgForSubject(ctx, messages.StatusSubject(intentID))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("reading the last status of %s: %w", intentID, err)
	}
	var ev messages.PaymentStatus
	if json.Unmarshal(raw.Data, &ev) != nil || ev.IntentID != intentID {
		return nil, raw.Sequence, nil
	}
	return &ev, raw.Sequence, nil
}
