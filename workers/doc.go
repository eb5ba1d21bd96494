// Package workers is the runtime every isogate worker stands on: Watermill
// handlers fed by durable JetStream pull consumers, with JetStream's own
// redelivery as the retry, a dead-letter queue, structured logs and
// Prometheus metrics. The workers themselves (encoder, submitter,
// statuspoller, statements, reconciler) live in sub-packages.
//
// # Pieces
//
// [Subscriber] is a Watermill message.Subscriber over one durable pull
// consumer described by a [ConsumerSpec], created or updated when it
// subscribes. [Publisher] is a message.Publisher that waits for the
// stream's PubAck. [NewRouter] wires [Worker]s into a message.Router with
// the middleware chain logging → metrics → dead-lettering → recoverer.
// [RunDeferred] runs a worker that settles each message when it has
// decided it rather than when a handler returns (the encoder, which holds
// each intent until its batch is encoded), with the same outcomes, dead
// letters, logs and metrics, and no goroutine per message held.
// [Decode] reads an event body, [Permanent] marks an error no retry can
// fix, [NewEventMessage] and [Publisher.PublishEvent] publish an event with
// its Nats-Msg-Id, [DeliveryFrom] and [Logger] give a handler its
// delivery and a logger with the correlation attributes.
//
// The watermill-nats adapter is not used: its pkg/jetstream is beta, binds
// to pull consumers only through a custom initializer, logs every message
// at info and panics on undecodable input, and its pkg/nats cannot bind to
// pull consumers. The consume loop is written here, directly on nats.go's
// jetstream API. Watermill's Deduplicator (it records the key before the
// handler runs, so a failed handler's redelivery is dropped), PoisonQueue
// (its dead letters have no stable id) and Retry (it retries inside one
// delivery, against AckWait) are not used either.
//
// # The handler contract
//
// A handler receives one message (msg.Context() ends when the worker is
// stopped past its drain timeout) and:
//
//   - returns nil only after everything it produced is durably stored:
//     each event published through [Publisher] (which waits for the PubAck)
//     with its own Nats-Msg-Id, each KV update written (compare-and-set
//     where two workers could race), each XML file archived in the object
//     store. The message is acked after that, never before;
//   - is idempotent on the ids — the intent id (EndToEndId) and the batch
//     id (MsgId) — because any message may come again: after a crash
//     between its work and its ack, after a lost ack, after `isogate dlq
//     replay` — even while a first delivery still runs, when its heartbeats
//     could not reach the server for AckWait. A second run must find its
//     work done (KV, compare-and-set) and publish the same events with the
//     same Nats-Msg-Id, which the stream drops within its duplicate window;
//   - returns Permanent(err) for what no retry can fix (a body that cannot
//     be decoded — [Decode] does this —, a field no bank accepts, a file
//     refused as a whole), and a plain error for what may pass (a timeout, a
//     bank or NATS outage, a compare-and-set conflict);
//   - may call [SetIDs] once it knows the intent or batch id, so logs and a
//     dead letter name them; and logs nothing about its own failure: the
//     router logs each error once.
//
// # What each outcome does
//
//	handler outcome                          delivery n of MaxDeliver   effect
//	nil                                      any                        Ack (not confirmed: a lost ack is a redelivery)
//	error                                    n < MaxDeliver             NakWithDelay(Backoff[n-1]): redelivered by the server after the delay
//	error (or a panic)                       n = MaxDeliver             dead letter on dlq.<worker>, then Ack
//	Permanent(err)                           any                        dead letter on dlq.<worker>, then Ack
//	(not run)                                n > MaxDeliver             dead letter ("the last attempt did not finish"), then Ack
//	dead letter could not be stored          any                        NakWithDelay: tried again on the next delivery
//	still running after the drain timeout    any                        context cancelled, nothing sent: redelivered after AckWait
//	crash before the ack                     any                        redelivered after AckWait (n+1)
//
// While a handler runs, InProgress heartbeats every AckWait/3 keep the
// server from redelivering it, so AckWait bounds how long a crashed
// worker holds a message, not how long a handler may take. The consumer has
// no server-side MaxDeliver: the runtime counts deliveries itself, so a
// message whose last attempt crashed is dead-lettered on the next delivery
// instead of being dropped by the server.
//
// # Dead letters
//
// A dead letter is a [messages.DeadLetter] on dlq.<worker> in the DLQ
// stream: the original subject, headers and body, the error, the attempts
// (the delivery count), the stream and sequence of the original, the intent
// and batch ids (from the Isogate-Intent-Id and Isogate-Batch-Id headers,
// [SetIDs], or the subject), and the first and last failure times. The
// first failure time is exact when this process saw every failed attempt;
// otherwise (a restart, another instance) it is the time the original was
// stored, the earliest it can have been. A body too large to copy (a dead
// letter is limited by max_payload, and base64 makes the body a third
// larger) is left out, and then the headers too if need be: the error says
// so, and the original stays in its stream at that sequence. Its
// Nats-Msg-Id is
// "<stream>:<seq>:<worker>": a crash between storing the dead letter and
// acking the original stores nothing new on redelivery within the DLQ
// stream's duplicate window (2 minutes by default); after it, a second copy
// with the same stream and sequence is possible, and replaying either is
// harmless because handlers are idempotent. `isogate dlq` lists, shows,
// replays and purges them.
//
// # Metrics
//
// Per worker: isogate_worker_processed_total, isogate_worker_failed_total,
// isogate_worker_retried_total, isogate_worker_dead_lettered_total,
// isogate_worker_handle_seconds (histogram) and isogate_worker_dlq_depth
// (messages on dlq.<worker>, read from the stream at scrape time).
package workers
