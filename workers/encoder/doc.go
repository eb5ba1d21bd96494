// Package encoder is the worker that turns payment intents into pain.001
// batches: it reads pay.intent.* (stream PAYMENTS, durable consumer
// "encoder"), validates each intent against its bank profile, groups the
// valid ones by debtor account + currency + execution date + profile,
// encodes each group as one pain.001 file, archives it, records the batch
// and publishes pay.batch.encoded — and only then acks the intents.
//
// # Outcomes of one intent
//
//	body not a JSON object, no id, wrong type/version,
//	  an id other than its subject's, an id too
//	  long for a subject (token over 1 KiB), or a
//	  subject of more than one token after
//	  pay.intent (read through pay.intent.*.>)     Permanent: dead letter on dlq.encoder
//	pay.intent.rejected.<id> (also read there)     ack: an event, not an intent
//	invalid fields, profile rules, unknown profile rejection recorded in KV intents (create-only),
//	                                               then pay.intent.rejected.<id> (Nats-Msg-Id "rejected:"+id), ack
//	id already claimed by an encoded batch         make sure that batch's pay.batch.encoded exists, ack
//	id claimed by a batch still open and stale     Abandon that batch, Release, batch the intent again
//	id claimed by a batch open and fresh           error: redelivered after the backoff
//	id already rejected                            ack (the id is spent: one terminal event per intent)
//	valid, new                                     held until its batch is encoded, then ack
//
// A first delivery of a valid intent is not looked up: it goes into a
// batch, and the flush's create-only claim finds an id another batch or a
// rejection holds (the last three rows are then decided there). Redeliveries
// and replays are looked up first, so they are acked without waiting for a
// batch. (An id rejected by a version that did not record rejections in KV
// intents is found by that lookup only: a later first delivery of a copy
// stored without the expected-sequence header would be batched.)
//
// An invalid intent whose id is claimed by a batch is never rejected: that
// id is being paid, and the invalid copy is acked as a duplicate; so is an
// invalid copy delivered while a valid copy of its id waits for its batch
// (copies of one id are decided one at a time). A replay
// (`isogate dlq replay`, header Isogate-Replay-Of) follows the same rules,
// so replaying an intent whose id is already batched or rejected is a
// no-op, while a replay whose id only a dead batch claimed is batched. Two
// copies of one id delivered to one encoder at once share one outcome.
//
// # When a batch closes
//
// A batch collects the intents of one group until it reaches its profile's
// file limit (or its CtrlSum would pass 18 digits), or Config.Wait after
// its first intent. When the wait is up while the submitter's consumer has
// pay.batch.encoded events it has not been delivered yet, a file closed now
// would only queue behind them: the batch keeps collecting, looked at again
// every Wait/4, until the submitter has caught up, the batch is full, the
// encoder has no room for another pull of intents, or Config.MaxHold has
// passed since its first intent. Under a backlog the encoder so makes
// fewer, larger files, and each file costs the same few stored writes and
// fsyncs whatever its size. Holding is decided in memory before a flush
// starts; nothing durable changes, and a crash while holding is a crash
// before the batch existed. One JetStream API request reads the backlog,
// shared by the batches that ask within half a recheck (Wait/8).
//
// # The flush of one batch
//
// Each step is durable before the next, so a crash between any two leaves
// a state the next run completes (see flush.go for the analysis):
//
//  1. create the batch record, state open, with its intent ids;
//  2. claim every intent for it (KV create-only);
//  3. EncodePain001 with MsgId = batch id;
//  4. archive the XML (content-addressed);
//  5. Transition open → encoded with archive, nb_of_txs, ctrl_sum
//     (a compare-and-set that races [state.Batches.Abandon]: exactly one wins);
//  6. publish pay.batch.encoded, Nats-Msg-Id = batch id;
//  7. settle every intent's delivery (the runtime acks).
//
// The encoder holds each intent's delivery until its batch is flushed — as
// a value: it runs its own consume loop ([workers.RunDeferred]), not a
// router handler parked per intent — so the consumer must let a whole batch
// be in flight at once: see [Handler.Spec]. [Handler.Recover] is the start-up
// sweep (and safe at any time): stale open batches are abandoned and their
// intents released; encoded batches get their pay.batch.encoded again when
// it is missing.
//
// # Wiring (internal/app)
//
//	batches, intents, err := state.New(ctx, js, state.Options{Worker: encoder.Name})
//	arch, err := archive.Open(ctx, js)
//	enc, err := encoder.New(encoder.Config{}, encoder.Deps{JS: js, Batches: batches,
//		Intents: intents, Archive: arch, Profiles: g.Profiles, Logger: log, Registerer: g.Registry})
//	_, err = enc.Recover(ctx)          // before Run
//	err = enc.Run(ctx)                 // until ctx ends; flushes what it holds, then returns
//	enc.Close()                        // after Run returned
package encoder
