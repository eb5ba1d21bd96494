package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/internal/natsconn"
	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers"
)

func init() {
	register(command{Name: "dlq", Summary: "list, show, replay and purge dead letters", Run: runDLQ})
}

const dlqUsage = `usage: isogate dlq SUBCOMMAND [flags] [args]

subcommands:
  list    [--worker W] [--json]                       list dead letters, oldest first
  show    SEQ [--data-only]                           one dead letter: envelope, headers and data
  replay  SEQ... | --all [--worker W] [--data FILE]   re-publish to the original subject, then remove
  purge   [--worker W] [--older-than D] --yes         remove dead letters without replaying them

A dead letter is a message a worker gave up on (an error no retry can fix, or
every delivery failed), stored on dlq.<worker> in the DLQ stream with the
original subject, headers and body, the error and the attempts. SEQ is its
sequence in the DLQ stream, as list shows it.

replay publishes the original body (or, for one SEQ, the body read from
--data FILE, - for stdin) to the original subject with the original headers,
minus JetStream's publish controls (Nats-*: no expected-last-sequence guard),
with Nats-Msg-Id replay:<SEQ> and Isogate-Replay-Of: <SEQ>, waits until the
stream stored it, and only then deletes the dead letter. A SEQ that is gone
(already replayed or purged) publishes nothing and makes the exit status 1.
The workers are idempotent on intent and batch ids: replaying a message whose
work was done after all changes nothing.

Every subcommand takes --nats-url (and the other connection flags).
Exit status: 0 success, 1 failure or a SEQ not found, 2 usage errors.
`

func runDLQ(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(env.Stderr, dlqUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	sub := map[string]func(context.Context, *cliEnv, []string) int{
		"list":   runDLQList,
		"show":   runDLQShow,
		"replay": runDLQReplay,
		"purge":  runDLQPurge,
	}[args[0]]
	if sub == nil {
		fmt.Fprintf(env.Stderr, "isogate dlq: unknown subcommand %q\n\n%s", args[0], dlqUsage)
		return 2
	}
	return sub(ctx, env, args[1:])
}

// dlqSession is an open connection to the DLQ stream.
type dlqSession struct {
	env    *cliEnv
	name   string // "dlq list", for messages
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
}

func (s *dlqSession) fail(format string, args ...any) int {
	fmt.Fprintf(s.env.Stderr, "isogate %s: %s\n", s.name, fmt.Sprintf(format, args...))
	return 1
}

// dlqOpen loads the configuration and connects. The returned code is
// non-zero when it failed and said why.
func dlqOpen(ctx context.Context, env *cliEnv, name string, cf *configFlags) (*dlqSession, int) {
	cfg, err := cf.load(env.Getenv)
	if err != nil {
		fmt.Fprintf(env.Stderr, "isogate %s: %v\n", name, err)
		return nil, 2
	}
	nc, err := natsconn.Dial(cfg, "isogate "+name, newLogger(env.Stderr, cfg))
	if err != nil {
		fmt.Fprintf(env.Stderr, "isogate %s: %v\n", name, err)
		return nil, 1
	}
	s := &dlqSession{env: env, name: name, nc: nc}
	if s.js, err = jetstream.New(nc); err == nil {
		s.stream, err = s.js.Stream(ctx, messages.StreamDLQ)
	}
	if err != nil {
		nc.Close()
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			err = fmt.Errorf("stream %s not found: has `isogate serve` provisioned this server?", messages.StreamDLQ)
		}
		fmt.Fprintf(env.Stderr, "isogate %s: %v\n", name, err)
		return nil, 1
	}
	return s, 0
}

func (s *dlqSession) close() { s.nc.Close() }

// dlqFilter is the subject of one worker's dead letters, or of all.
func dlqFilter(worker string) string {
	if worker == "" {
		return "dlq.>"
	}
	return messages.DeadLetterSubject(worker)
}

// dlqRecord is one message of the DLQ stream.
type dlqRecord struct {
	Seq      uint64
	StoredAt time.Time
	Subject  string
	DL       messages.DeadLetter
	Err      error // the message is not a readable dead letter
}

func dlqDecode(seq uint64, stored time.Time, subject string, data []byte) dlqRecord {
	r := dlqRecord{Seq: seq, StoredAt: stored, Subject: subject}
	if err := json.Unmarshal(data, &r.DL); err != nil {
		r.Err = fmt.Errorf("not a readable dead letter: %w", err)
	} else if r.DL.Type != messages.TypeDeadLetter || r.DL.Subject == "" {
		r.Err = fmt.Errorf("not a dead letter (type %q, subject %q)", r.DL.Type, r.DL.Subject)
	}
	return r
}

// list returns the dead letters on filter, oldest first, read with an
// ordered consumer.
func (s *dlqSession) list(ctx context.Context, filter string) ([]dlqRecord, error) {
	info, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, err
	}
	var total uint64
	for _, n := range info.State.Subjects {
		total += n
	}
	if total == 0 {
		return nil, nil
	}
	cons, err := s.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		return nil, err
	}
	var out []dlqRecord
	for uint64(len(out)) < total {
		batch, err := cons.Fetch(int(min(256, total-uint64(len(out)))), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, err
		}
		got, last := 0, false
		for m := range batch.Messages() {
			got++
			meta, err := m.Metadata()
			if err != nil {
				return nil, err
			}
			out = append(out, dlqDecode(meta.Sequence.Stream, meta.Timestamp, m.Subject(), m.Data()))
			last = meta.NumPending == 0
		}
		if err := batch.Error(); err != nil {
			return nil, err
		}
		if got == 0 || last {
			break // some were removed meanwhile, or that was the last one
		}
	}
	return out, nil
}

// get returns the dead letter at seq, or an error wrapping
// jetstream.ErrMsgNotFound when it is gone.
func (s *dlqSession) get(ctx context.Context, seq uint64) (dlqRecord, error) {
	m, err := s.stream.GetMsg(ctx, seq)
	if err != nil {
		return dlqRecord{}, err
	}
	if !strings.HasPrefix(m.Subject, "dlq.") {
		return dlqRecord{}, fmt.Errorf("message %d of stream %s is on %s, not a dead letter", seq, messages.StreamDLQ, m.Subject)
	}
	return dlqDecode(m.Sequence, m.Time, m.Subject, m.Data), nil
}

func dlqSeqs(args []string) ([]uint64, error) {
	var seqs []uint64
	for _, a := range args {
		n, err := strconv.ParseUint(a, 10, 64)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("%q is not a dead-letter sequence (a positive whole number, as list shows)", a)
		}
		seqs = append(seqs, n)
	}
	return seqs, nil
}

// dlqListEntry is one line of `dlq list --json`.
type dlqListEntry struct {
	Seq           uint64    `json:"seq"`
	Worker        string    `json:"worker"`
	Subject       string    `json:"subject"`
	Attempts      int       `json:"attempts"`
	FirstFailedAt time.Time `json:"first_failed_at"`
	FailedAt      time.Time `json:"failed_at"`
	Error         string    `json:"error"`
	IntentID      string    `json:"intent_id,omitempty"`
	BatchID       string    `json:"batch_id,omitempty"`
	Stream        string    `json:"stream,omitempty"`
	StreamSeq     uint64    `json:"stream_seq,omitempty"`
}

func runDLQList(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("isogate dlq list", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	cf := addConfigFlags(fs, false)
	worker := fs.String("worker", "", "only the dead letters of `WORKER` (dlq.<worker>)")
	asJSON := fs.Bool("json", false, "print a JSON array on stdout")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: isogate dlq list [--worker W] [--json]\n\nLists dead letters, oldest first.\n\n")
		fs.PrintDefaults()
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) > 0 {
		fmt.Fprintf(env.Stderr, "isogate dlq list: unexpected argument %q\n", pos[0])
		return 2
	}
	s, code := dlqOpen(ctx, env, "dlq list", cf)
	if code != 0 {
		return code
	}
	defer s.close()
	recs, err := s.list(ctx, dlqFilter(*worker))
	if err != nil {
		return s.fail("reading dead letters: %v", err)
	}
	if *asJSON {
		entries := make([]dlqListEntry, 0, len(recs))
		for _, r := range recs {
			e := dlqListEntry{Seq: r.Seq, Worker: r.DL.Worker, Subject: r.DL.Subject, Attempts: r.DL.Attempts,
				FirstFailedAt: r.DL.FirstFailedAt, FailedAt: r.DL.FailedAt, Error: r.DL.Error, IntentID: r.DL.IntentID,
				BatchID: r.DL.BatchID, Stream: r.DL.Stream, StreamSeq: r.DL.StreamSeq}
			if r.Err != nil {
				e.Worker, e.Error, e.FailedAt = strings.TrimPrefix(r.Subject, "dlq."), r.Err.Error(), r.StoredAt
			}
			entries = append(entries, e)
		}
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(entries); err != nil {
			return 1
		}
		return 0
	}
	if len(recs) == 0 {
		fmt.Fprintln(env.Stdout, "no dead letters")
		return 0
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tWORKER\tSUBJECT\tATTEMPTS\tFAILED_AT\tINTENT\tBATCH\tERROR")
	for _, r := range recs {
		if r.Err != nil {
			fmt.Fprintf(tw, "%d\t%s\t-\t-\t%s\t-\t-\t%s\n", r.Seq, strings.TrimPrefix(r.Subject, "dlq."),
				r.StoredAt.UTC().Format(time.RFC3339), dlqOneLine(r.Err.Error(), 100))
			continue
		}
		dl := r.DL
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.Seq, dl.Worker, dl.Subject, dl.Attempts,
			dl.FailedAt.UTC().Format(time.RFC3339), dlqDash(dl.IntentID), dlqDash(dl.BatchID), dlqOneLine(dl.Error, 100))
	}
	if err := tw.Flush(); err != nil {
		return 1
	}
	return 0
}

func dlqDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// dlqOneLine returns the first line of s, cut to n runes.
func dlqOneLine(s string, n int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	if r := []rune(s); len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	return s
}

// dlqShown is `dlq show`'s output: the envelope with the data as JSON when
// it is JSON, as a string when it is text, and in base64 otherwise.
type dlqShown struct {
	Seq           uint64              `json:"seq"`
	StoredAt      time.Time           `json:"stored_at"`
	Worker        string              `json:"worker"`
	Subject       string              `json:"subject"`
	IntentID      string              `json:"intent_id,omitempty"`
	BatchID       string              `json:"batch_id,omitempty"`
	Attempts      int                 `json:"attempts"`
	FirstFailedAt time.Time           `json:"first_failed_at"`
	FailedAt      time.Time           `json:"failed_at"`
	Error         string              `json:"error"`
	Stream        string              `json:"stream,omitempty"`
	StreamSeq     uint64              `json:"stream_seq,omitempty"`
	Headers       map[string][]string `json:"headers,omitempty"`
	DataEncoding  string              `json:"data_encoding"`
	Data          json.RawMessage     `json:"data"`
}

func runDLQShow(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("isogate dlq show", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	cf := addConfigFlags(fs, false)
	dataOnly := fs.Bool("data-only", false, "write only the original body, byte for byte (to edit it for replay --data)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: isogate dlq show SEQ [--data-only]\n\nPrints one dead letter as JSON, its data pretty-printed when it is JSON.\n\n")
		fs.PrintDefaults()
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 1 {
		fmt.Fprintln(env.Stderr, "isogate dlq show: name one SEQ")
		return 2
	}
	seqs, err := dlqSeqs(pos)
	if err != nil {
		fmt.Fprintf(env.Stderr, "isogate dlq show: %v\n", err)
		return 2
	}
	s, code := dlqOpen(ctx, env, "dlq show", cf)
	if code != 0 {
		return code
	}
	defer s.close()
	r, err := s.get(ctx, seqs[0])
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return s.fail("dead letter %d not found (replayed or purged?)", seqs[0])
	}
	if err != nil {
		return s.fail("%v", err)
	}
	if r.Err != nil {
		return s.fail("message %d: %v", r.Seq, r.Err)
	}
	dl := r.DL
	if *dataOnly {
		if _, err := env.Stdout.Write(dl.Data); err != nil {
			return 1
		}
		return 0
	}
	out := dlqShown{Seq: r.Seq, StoredAt: r.StoredAt, Worker: dl.Worker, Subject: dl.Subject, IntentID: dl.IntentID,
		BatchID: dl.BatchID, Attempts: dl.Attempts, FirstFailedAt: dl.FirstFailedAt, FailedAt: dl.FailedAt,
		Error: dl.Error, Stream: dl.Stream, StreamSeq: dl.StreamSeq, Headers: dl.Headers}
	switch {
	case json.Valid(dl.Data):
		out.DataEncoding, out.Data = "json", bytes.TrimSpace(dl.Data)
	case utf8.Valid(dl.Data):
		out.DataEncoding = "text"
		out.Data, _ = json.Marshal(string(dl.Data))
	default:
		out.DataEncoding = "base64"
		out.Data, _ = json.Marshal(base64.StdEncoding.EncodeToString(dl.Data))
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return s.fail("%v", err)
	}
	fmt.Fprintf(env.Stdout, "%s\n", b)
	return 0
}

func runDLQReplay(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("isogate dlq replay", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	cf := addConfigFlags(fs, false)
	all := fs.Bool("all", false, "replay every dead letter (of --worker)")
	worker := fs.String("worker", "", "with --all: only the dead letters of `WORKER`")
	dataFile := fs.String("data", "", "publish the body read from `FILE` (- for stdin) instead of the original; one SEQ only")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: isogate dlq replay SEQ... | --all [--worker W] [--data FILE]

Re-publishes each dead letter's message to its original subject (Nats-Msg-Id
replay:<SEQ>, header Isogate-Replay-Of: <SEQ>), then deletes the dead letter.
A SEQ already replayed or purged publishes nothing: exit status 1.

`)
		fs.PrintDefaults()
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	seqs, err := dlqSeqs(pos)
	switch {
	case err != nil:
		fmt.Fprintf(env.Stderr, "isogate dlq replay: %v\n", err)
		return 2
	case *all && len(seqs) > 0:
		fmt.Fprintln(env.Stderr, "isogate dlq replay: give SEQ arguments or --all, not both")
		return 2
	case !*all && len(seqs) == 0:
		fmt.Fprintln(env.Stderr, "isogate dlq replay: name at least one SEQ, or --all")
		return 2
	case *worker != "" && !*all:
		fmt.Fprintln(env.Stderr, "isogate dlq replay: --worker selects with --all; with SEQ arguments leave it out")
		return 2
	case *dataFile != "" && len(seqs) != 1:
		fmt.Fprintln(env.Stderr, "isogate dlq replay: --data replaces the body of exactly one SEQ")
		return 2
	}
	var body []byte
	if *dataFile != "" {
		if *dataFile == "-" {
			body, err = io.ReadAll(env.Stdin)
		} else {
			body, err = os.ReadFile(*dataFile)
		}
		if err != nil {
			fmt.Fprintf(env.Stderr, "isogate dlq replay: reading --data: %v\n", err)
			return 1
		}
	}
	s, code := dlqOpen(ctx, env, "dlq replay", cf)
	if code != 0 {
		return code
	}
	defer s.close()

	var recs []dlqRecord
	if *all {
		if recs, err = s.list(ctx, dlqFilter(*worker)); err != nil {
			return s.fail("reading dead letters: %v", err)
		}
		if len(recs) == 0 {
			fmt.Fprintln(env.Stdout, "no dead letters to replay")
			return 0
		}
	}
	code = 0
	replayed := 0
	for _, seq := range seqs {
		r, err := s.get(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			fmt.Fprintf(env.Stderr, "isogate dlq replay: dead letter %d not found: already replayed or purged; nothing published\n", seq)
			code = 1
			continue
		}
		if err != nil {
			s.fail("dead letter %d: %v", seq, err)
			code = 1
			continue
		}
		recs = append(recs, r)
	}
	for _, r := range recs {
		if err := s.replay(ctx, r, body); err != nil {
			s.fail("%v", err)
			code = 1
			continue
		}
		replayed++
	}
	if *all || len(recs) > 1 {
		fmt.Fprintf(env.Stdout, "%d replayed\n", replayed)
	}
	return code
}

// replay publishes one dead letter's message again and then deletes the
// dead letter. body, when not nil, replaces the original data.
func (s *dlqSession) replay(ctx context.Context, r dlqRecord, body []byte) error {
	if r.Err != nil {
		return fmt.Errorf("dead letter %d: %w; nothing published", r.Seq, r.Err)
	}
	dl := r.DL
	msgID := "replay:" + strconv.FormatUint(r.Seq, 10)
	msg := &nats.Msg{Subject: dl.Subject, Data: dl.Data, Header: nats.Header{}}
	headers := dl.Headers
	if body == nil && len(dl.Data) == 0 && dl.Stream != "" && dl.StreamSeq > 0 {
		// A message too large to copy into its dead letter was stored
		// without its data (and perhaps its headers): replay the original,
		// which its stream still holds, not an empty body.
		orig, err := s.original(ctx, dl)
		if err != nil {
			return fmt.Errorf("dead letter %d holds no data and its original, %s sequence %d, cannot be read: %w; nothing published", r.Seq, dl.Stream, dl.StreamSeq, err)
		}
		msg.Data = orig.Data
		if len(headers) == 0 {
			headers = orig.Header
		}
	}
	if body != nil {
		msg.Data = body
	}
	for k, v := range headers {
		// Nats-* headers are JetStream's publish controls (the id, the
		// expected-last-sequence guard that would refuse a second
		// pay.intent.<id>, rollups, TTLs), not part of the message.
		if strings.HasPrefix(strings.ToLower(k), "nats-") {
			continue
		}
		msg.Header[k] = append([]string(nil), v...)
	}
	msg.Header.Set(jetstream.MsgIDHeader, msgID)
	msg.Header.Set(workers.HeaderReplayOf, strconv.FormatUint(r.Seq, 10))
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ack, err := s.js.PublishMsg(pctx, msg)
	if err != nil {
		return fmt.Errorf("replaying dead letter %d to %s: %w; the dead letter is kept", r.Seq, dl.Subject, err)
	}
	note := ""
	if ack.Duplicate {
		// An earlier replay of this SEQ published it and did not get to the
		// delete — unless the id belongs to something else (a DLQ stream
		// recreated within the duplicate window): then keep the dead letter.
		if err := s.sameAs(ctx, ack, msg); err != nil {
			return fmt.Errorf("replaying dead letter %d: %s reports Nats-Msg-Id %s as a duplicate, but %v; nothing published, the dead letter is kept",
				r.Seq, ack.Stream, msgID, err)
		}
		note = " (already published by an earlier replay that did not finish)"
	}
	if err := s.stream.DeleteMsg(ctx, r.Seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("dead letter %d was replayed to %s as %s %d%s but could not be deleted: %w (replaying it again re-publishes it, which the workers treat as a duplicate)",
			r.Seq, dl.Subject, ack.Stream, ack.Sequence, note, err)
	}
	fmt.Fprintf(s.env.Stdout, "replayed dead letter %d (worker %s) to %s as %s %d%s, Nats-Msg-Id %s; dead letter deleted\n",
		r.Seq, dl.Worker, dl.Subject, ack.Stream, ack.Sequence, note, msgID)
	return nil
}

// original reads the message a dead letter was made of from its stream.
func (s *dlqSession) original(ctx context.Context, dl messages.DeadLetter) (*jetstream.RawStreamMsg, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := s.js.Stream(ctx, dl.Stream)
	if err != nil {
		return nil, err
	}
	m, err := st.GetMsg(ctx, dl.StreamSeq)
	if err != nil {
		return nil, err
	}
	if m.Subject != dl.Subject {
		return nil, fmt.Errorf("it is on %s, the dead letter names %s", m.Subject, dl.Subject)
	}
	return m, nil
}

func runDLQPurge(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("isogate dlq purge", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	cf := addConfigFlags(fs, false)
	worker := fs.String("worker", "", "only the dead letters of `WORKER`")
	olderThan := fs.String("older-than", "", "only dead letters stored more than `D` ago (Go duration such as 36h, or days such as 7d)")
	yes := fs.Bool("yes", false, "really delete; without it purge only says what it would delete")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: isogate dlq purge [--worker W] [--older-than D] --yes\n\nDeletes dead letters without replaying them.\n\n")
		fs.PrintDefaults()
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) > 0 {
		fmt.Fprintf(env.Stderr, "isogate dlq purge: unexpected argument %q\n", pos[0])
		return 2
	}
	var age time.Duration
	if *olderThan != "" {
		if age, err = dlqParseAge(*olderThan); err != nil {
			fmt.Fprintf(env.Stderr, "isogate dlq purge: --older-than: %v\n", err)
			return 2
		}
	}
	s, code := dlqOpen(ctx, env, "dlq purge", cf)
	if code != 0 {
		return code
	}
	defer s.close()
	filter := dlqFilter(*worker)
	info, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return s.fail("%v", err)
	}
	// Purge below a sequence, so dead letters arriving meanwhile stay.
	upTo := info.State.LastSeq + 1
	var n uint64
	if age == 0 {
		for _, c := range info.State.Subjects {
			n += c
		}
	} else {
		cutoff := time.Now().Add(-age)
		recs, err := s.list(ctx, filter)
		if err != nil {
			return s.fail("reading dead letters: %v", err)
		}
		for _, r := range recs {
			if !r.StoredAt.Before(cutoff) {
				upTo = r.Seq
				break
			}
			n++
		}
	}
	what := fmt.Sprintf("%d dead letters", n)
	if *worker != "" {
		what += " of worker " + *worker
	}
	if age > 0 {
		what += " older than " + *olderThan
	}
	if !*yes {
		fmt.Fprintf(env.Stderr, "isogate dlq purge: would delete %s; run again with --yes to delete them\n", what)
		return 2
	}
	if n > 0 {
		if err := s.stream.Purge(ctx, jetstream.WithPurgeSubject(filter), jetstream.WithPurgeSequence(upTo)); err != nil {
			return s.fail("purging: %v", err)
		}
	}
	fmt.Fprintf(env.Stdout, "deleted %s\n", what)
	return 0
}

// dlqParseAge reads a Go duration or a whole number of days ("7d").
func dlqParseAge(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%q: want a positive number of days such as 7d, or a duration such as 36h", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q: want a positive duration such as 36h, or days such as 7d", s)
	}
	return d, nil
}

// sameAs checks that the message a duplicate PubAck points at is msg.
func (s *dlqSession) sameAs(ctx context.Context, ack *jetstream.PubAck, msg *nats.Msg) error {
	st, err := s.js.Stream(ctx, ack.Stream)
	if err != nil {
		return fmt.Errorf("it cannot be checked: %w", err)
	}
	m, err := st.GetMsg(ctx, ack.Sequence)
	if err != nil {
		return fmt.Errorf("it cannot be checked: %w", err)
	}
	if m.Subject != msg.Subject || !bytes.Equal(m.Data, msg.Data) {
		return fmt.Errorf("the message stored under it (%s %d on %s) differs", ack.Stream, ack.Sequence, m.Subject)
	}
	return nil
}
