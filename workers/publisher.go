package workers

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/messages"
)

// Metadata keys the [Publisher] turns into JetStream publish controls, and
// the correlation headers the gateway sets.
const (
	// MetaMsgID is the de-duplication id of a message to publish (the
	// Nats-Msg-Id header). Required: every event has its own id.
	MetaMsgID = messages.HeaderMsgID
	// MetaExpectedLastSubjectSeq, when set, makes the stream refuse the
	// message unless the last message on its subject has this sequence ("0":
	// none yet).
	MetaExpectedLastSubjectSeq = messages.HeaderExpectedLastSubjectSeq

	// HeaderIntentID and HeaderBatchID carry the intent id (EndToEndId) and
	// the batch id (pain.001 MsgId) a message concerns, for logs and dead
	// letters. [NewEventMessage] sets them from the event.
	HeaderIntentID = "Isogate-Intent-Id"
	HeaderBatchID  = "Isogate-Batch-Id"
	// HeaderReplayOf is set by `isogate dlq replay` to the sequence of the
	// dead letter a message was replayed from.
	HeaderReplayOf = "Isogate-Replay-Of"
)

// DefaultPublishTimeout bounds one publish and its PubAck.
const DefaultPublishTimeout = 10 * time.Second

// Publisher is a Watermill [message.Publisher] that publishes to JetStream
// synchronously: Publish returns once the stream has stored each message
// (a PubAck), so a handler that returns after publishing has its output
// durably stored. A PubAck marked duplicate — the stream already holds a
// message with that Nats-Msg-Id within its duplicate window — is success.
type Publisher struct {
	js      jetstream.JetStream
	timeout time.Duration
}

// NewPublisher returns a publisher on js. timeout bounds each publish; zero
// means [DefaultPublishTimeout].
func NewPublisher(js jetstream.JetStream, timeout time.Duration) *Publisher {
	if timeout <= 0 {
		timeout = DefaultPublishTimeout
	}
	return &Publisher{js: js, timeout: timeout}
}

// Publish publishes each message to the subject topic, in order, waiting
// for each PubAck. The message's [MetaMsgID] becomes its Nats-Msg-Id and is
// required; [MetaExpectedLastSubjectSeq] is passed on; every other
// metadata key becomes a header, except those with [MetaPrefix] (which
// describe a received message). It stops at the first message the stream
// did not store, with an error naming the subject and the id.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	for _, m := range msgs {
		if _, err := p.PublishMessage(m.Context(), topic, m); err != nil {
			return err
		}
	}
	return nil
}

// PublishMessage publishes one message like Publish, with ctx bounding it
// (and the publisher's timeout), and returns the PubAck.
func (p *Publisher) PublishMessage(ctx context.Context, subject string, m *message.Message) (*jetstream.PubAck, error) {
	id := m.Metadata.Get(MetaMsgID)
	if id == "" {
		return nil, fmt.Errorf("workers: publishing to %s: no %s in the metadata", subject, MetaMsgID)
	}
	msg := NATSMsg(subject, m)
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	ack, err := p.js.PublishMsg(ctx, msg)
	if err != nil {
		return nil, fmt.Errorf("workers: publishing to %s (Nats-Msg-Id %s): %w", subject, id, err)
	}
	if ack == nil || ack.Stream == "" {
		return nil, fmt.Errorf("workers: publishing to %s (Nats-Msg-Id %s): no stream stored it", subject, id)
	}
	return ack, nil
}

// NATSMsg is the NATS message [Publisher] sends for m on subject: every
// metadata key becomes a header ([MetaMsgID] the Nats-Msg-Id,
// [MetaExpectedLastSubjectSeq] the publish check), except those with
// [MetaPrefix] and empty values.
func NATSMsg(subject string, m *message.Message) *nats.Msg {
	msg := &nats.Msg{Subject: subject, Data: m.Payload, Header: nats.Header{}}
	for k, v := range m.Metadata {
		if strings.HasPrefix(k, MetaPrefix) || v == "" {
			continue
		}
		msg.Header.Set(k, v)
	}
	return msg
}

// PublishEvent publishes ev to ev.EventSubject() with Nats-Msg-Id msgID (see
// [NewEventMessage]) and returns the PubAck.
func (p *Publisher) PublishEvent(ctx context.Context, ev messages.Event, msgID string) (*jetstream.PubAck, error) {
	m, err := NewEventMessage(ev, msgID)
	if err != nil {
		return nil, err
	}
	return p.PublishMessage(ctx, ev.EventSubject(), m)
}

// Close does nothing: every Publish has already waited for its PubAck.
func (p *Publisher) Close() error { return nil }

// NewEventMessage encodes ev with [messages.Marshal] into a message for
// [Publisher] with Nats-Msg-Id msgID and the [HeaderIntentID] and
// [HeaderBatchID] headers set from the event's intent_id and batch_id
// fields when it has them. Its UUID is msgID.
func NewEventMessage(ev messages.Event, msgID string) (*message.Message, error) {
	if msgID == "" {
		return nil, fmt.Errorf("workers: encoding %s: empty Nats-Msg-Id", ev.EventType())
	}
	data, err := messages.Marshal(ev)
	if err != nil {
		return nil, err
	}
	intentID, batchID := eventIDs(ev)
	m := message.NewMessage(msgID, data)
	m.Metadata.Set(MetaMsgID, msgID)
	if intentID != "" {
		m.Metadata.Set(HeaderIntentID, intentID)
	}
	if batchID != "" {
		m.Metadata.Set(HeaderBatchID, batchID)
	}
	return m, nil
}

// idFields is where an event type keeps its top-level intent_id and
// batch_id string fields (nil: it has none), found once per type.
type idFields struct{ intent, batch []int }

var eventIDFields sync.Map // reflect.Type → idFields

// eventIDs returns the event's top-level string fields tagged
// json:"intent_id" and json:"batch_id" (with any options), read by
// reflection on field indices cached per type: what the JSON's top-level
// keys of those names hold, without decoding the JSON again.
func eventIDs(ev messages.Event) (intentID, batchID string) {
	v := reflect.ValueOf(ev)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return "", ""
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return "", ""
	}
	f, ok := eventIDFields.Load(v.Type())
	if !ok {
		f, _ = eventIDFields.LoadOrStore(v.Type(), findIDFields(v.Type()))
	}
	fs := f.(idFields)
	str := func(idx []int) string {
		if idx == nil {
			return ""
		}
		return v.FieldByIndex(idx).String()
	}
	return str(fs.intent), str(fs.batch)
}

func findIDFields(t reflect.Type) idFields {
	var fs idFields
	for _, sf := range reflect.VisibleFields(t) {
		if !sf.IsExported() || sf.Type.Kind() != reflect.String || (sf.Anonymous && sf.Type.Kind() == reflect.Struct) {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		switch {
		case name == "intent_id" && fs.intent == nil:
			fs.intent = sf.Index
		case name == "batch_id" && fs.batch == nil:
			fs.batch = sf.Index
		}
	}
	return fs
}

// IsWrongLastSequence reports whether err is JetStream refusing a publish
// because of [MetaExpectedLastSubjectSeq]: the subject already has a
// message (for pay.intent.<id>, the id is taken).
func IsWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}
