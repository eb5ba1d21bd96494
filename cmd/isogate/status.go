package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/internal/natsconn"
	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers/state"
)

func init() {
	register(command{Name: "status", Summary: "show what happened to one intent or batch", Run: runStatus})
}

// errStatusUnknown marks an id the gateway has no trace of.
var errStatusUnknown = errors.New("unknown")

func runStatus(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("isogate status", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	cf := addConfigFlags(fs, false)
	asJSON := fs.Bool("json", false, "print one JSON object on stdout")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: isogate status intent ID [flags]
       isogate status batch ID [flags]

Shows what the gateway knows of one payment intent or one batch (pain.001
MsgId). For an intent: the intent as published (account numbers masked), the
batch that took it, its last payment status, and its settlement or
rejection. For a batch: its state and history, its file in the archive, the
bank's receipt. Exit status: 0 found, 1 unknown id or NATS unreachable,
2 usage.

`)
		fs.PrintDefaults()
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 2 || (pos[0] != "intent" && pos[0] != "batch") {
		fmt.Fprintln(env.Stderr, "isogate status: want `intent ID` or `batch ID`; see isogate status -h")
		return 2
	}
	kind, id := pos[0], pos[1]
	cfg, err := cf.load(env.Getenv)
	if err != nil {
		fmt.Fprintf(env.Stderr, "isogate status: %v\n", err)
		return 2
	}
	nc, err := natsconn.Dial(cfg, "isogate status", newLogger(env.Stderr, cfg))
	if err != nil {
		hint := ""
		if !cfg.Embedded() {
			hint = " (is the gateway's NATS running there? point at it with --nats-url URL, ISOGATE_NATS_URL or nats.url in --config)"
		}
		fmt.Fprintf(env.Stderr, "isogate status: %v%s\n", err, hint)
		return 1
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		fmt.Fprintf(env.Stderr, "isogate status: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, 2*cfg.NATS.ConnectTimeout+5*time.Second)
	defer cancel()

	var report any
	if kind == "intent" {
		report, err = statusLookupIntent(ctx, js, id)
	} else {
		report, err = statusLookupBatch(ctx, js, id)
	}
	if errors.Is(err, errStatusUnknown) {
		fmt.Fprintf(env.Stderr, "isogate status: no %s %s known to the gateway\n", kind, id)
		return 1
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "isogate status: %s %s: %v\n", kind, id, err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		if err := enc.Encode(report); err != nil {
			return 1
		}
		return 0
	}
	switch r := report.(type) {
	case *statusIntentReport:
		r.print(env.Stdout)
	case *statusBatchReport:
		r.print(env.Stdout)
	}
	return 0
}

// statusIntentReport is `isogate status intent ID`; its JSON is the --json output.
type statusIntentReport struct {
	ID      string `json:"id"`
	Summary string `json:"summary"`
	// Intent is the intent as stored in PAYMENTS, nil when it never was
	// (an intent refused at publishing).
	Intent   *statusIntentView   `json:"intent,omitempty"`
	Record   *state.Intent       `json:"record,omitempty"` // KV intents
	Batch    *statusBatchSummary `json:"batch,omitempty"`
	Status   *statusEventView    `json:"status,omitempty"`
	Settled  *statusSettledView  `json:"settled,omitempty"`
	Rejected *statusRejectedView `json:"rejected,omitempty"`
	// Problems lists stored events that could not be read; the rest of the
	// report stands.
	Problems   []string `json:"problems,omitempty"`
	unreadable bool     // the intent is stored but not readable
}

type statusIntentView struct {
	Amount        string    `json:"amount"`
	Currency      string    `json:"currency"`
	ExecutionDate string    `json:"execution_date,omitempty"`
	DebtorIBAN    string    `json:"debtor_iban"` // masked
	DebtorBIC     string    `json:"debtor_bic,omitempty"`
	CreditorIBAN  string    `json:"creditor_iban"` // masked
	CreditorBIC   string    `json:"creditor_bic,omitempty"`
	CreditorName  string    `json:"creditor_name,omitempty"` // masked
	Profile       string    `json:"profile,omitempty"`
	PublishedAt   time.Time `json:"published_at"`
	Sequence      uint64    `json:"sequence"` // in stream PAYMENTS
}

type statusBatchSummary struct {
	ID    string      `json:"id"`
	State state.State `json:"state,omitempty"` // empty when the batch has no record
	Since time.Time   `json:"since,omitzero"`
}

type statusEventView struct {
	Status     messages.TxStatus       `json:"status"`
	Final      bool                    `json:"final"`
	BatchID    string                  `json:"batch_id"`
	Group      messages.TxStatus       `json:"group_status,omitempty"`
	Reasons    []messages.StatusReason `json:"reasons,omitempty"`
	ReceivedAt time.Time               `json:"received_at"`
	SHA256     string                  `json:"archive_sha256,omitempty"`
}

type statusSettledView struct {
	Account     string               `json:"account"` // masked
	Amount      string               `json:"amount"`
	Currency    string               `json:"currency"`
	CreditDebit messages.CreditDebit `json:"credit_debit"`
	BookingDate string               `json:"booking_date"`
	ValueDate   string               `json:"value_date,omitempty"`
	EntryRef    string               `json:"entry_ref,omitempty"`
	AcctSvcrRef string               `json:"acct_svcr_ref,omitempty"`
	Statement   string               `json:"statement_msg_id"`
	SettledAt   time.Time            `json:"settled_at"`
}

// statusRejectedView leaves out the rejected input, which holds account numbers.
type statusRejectedView struct {
	Source     string                `json:"source"`
	RejectedAt time.Time             `json:"rejected_at"`
	Errors     []messages.FieldError `json:"errors"`
}

func statusLookupIntent(ctx context.Context, js jetstream.JetStream, id string) (*statusIntentReport, error) {
	stream, err := js.Stream(ctx, messages.StreamPayments)
	if err != nil {
		return nil, statusStreamErr(err)
	}
	batches, intents, err := state.New(ctx, js, state.Options{})
	if err != nil {
		return nil, err
	}
	r := &statusIntentReport{ID: id}
	// last reads the latest event on subject into v; m is nil when there
	// is none or it is not readable (a problem is noted).
	last := func(subject string, v any) (m *jetstream.RawStreamMsg, err error) {
		m, err = stream.GetLastMsgForSubject(ctx, subject)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", subject, err)
		}
		if err := json.Unmarshal(m.Data, v); err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("%s (PAYMENTS sequence %d) is not readable: %v", subject, m.Sequence, err))
			if subject == messages.IntentSubject(id) {
				r.unreadable = true
			}
			return nil, nil
		}
		return m, nil
	}

	var in messages.PaymentIntent
	m, err := last(messages.IntentSubject(id), &in)
	if err != nil {
		return nil, err
	}
	if m != nil {
		r.Intent = &statusIntentView{
			Amount: in.Amount, Currency: in.Currency, ExecutionDate: in.ExecutionDate,
			DebtorIBAN: messages.MaskIBAN(in.Debtor.IBAN), DebtorBIC: in.Debtor.BIC,
			CreditorIBAN: messages.MaskIBAN(in.Creditor.IBAN), CreditorBIC: in.Creditor.BIC,
			CreditorName: messages.MaskName(in.Creditor.Name), Profile: in.Profile,
			PublishedAt: m.Time.UTC(), Sequence: m.Sequence,
		}
	}
	rec, err := intents.Get(ctx, id)
	switch {
	case errors.Is(err, state.ErrNotFound):
	case err != nil:
		return nil, err
	case rec.Rejected:
		r.Record = rec // rejected before any batch: the rejection event says why
	default:
		r.Record = rec
		r.Batch = &statusBatchSummary{ID: rec.BatchID}
		b, err := batches.Get(ctx, rec.BatchID)
		if err != nil && !errors.Is(err, state.ErrNotFound) {
			return nil, err
		}
		if b != nil {
			r.Batch.State, r.Batch.Since = b.State, b.Since().UTC()
		}
	}
	var st messages.PaymentStatus
	if m, err := last(messages.StatusSubject(id), &st); err != nil {
		return nil, err
	} else if m != nil {
		r.Status = &statusEventView{Status: st.Status, Final: st.Final, BatchID: st.BatchID, Group: st.GroupStatus,
			Reasons: st.Reasons, ReceivedAt: st.ReceivedAt.UTC(), SHA256: st.ArchiveSHA256}
	}
	var se messages.PaymentSettled
	if m, err := last(messages.SettledSubject(id), &se); err != nil {
		return nil, err
	} else if m != nil {
		r.Settled = &statusSettledView{Account: messages.MaskIBAN(se.Account), Amount: se.Amount, Currency: se.Currency,
			CreditDebit: se.CreditDebit, BookingDate: se.BookingDate, ValueDate: se.ValueDate, EntryRef: se.EntryRef,
			AcctSvcrRef: se.AcctSvcrRef, Statement: se.StatementMsgID, SettledAt: se.SettledAt.UTC()}
	}
	var rj messages.IntentRejected
	if m, err := last(messages.IntentRejectedSubject(id), &rj); err != nil {
		return nil, err
	} else if m != nil {
		r.Rejected = &statusRejectedView{Source: rj.Source, RejectedAt: rj.RejectedAt.UTC(), Errors: rj.Errors}
	}
	if r.Intent == nil && r.Record == nil && r.Rejected == nil && r.Status == nil && r.Settled == nil && r.Problems == nil {
		return nil, errStatusUnknown
	}
	r.Summary = r.summary()
	return r, nil
}

// summary says in a few words where the intent is.
func (r *statusIntentReport) summary() string {
	switch {
	case r.Rejected != nil:
		return "rejected by " + r.Rejected.Source
	case r.Settled != nil:
		return "settled on " + r.Settled.BookingDate
	case r.Status != nil && r.Status.Final:
		return "final status " + string(r.Status.Status)
	case r.Status != nil:
		return "status " + string(r.Status.Status)
	case r.Record != nil && r.Batch.State != "":
		return "in batch " + r.Record.BatchID + " (" + string(r.Batch.State) + ")"
	case r.Record != nil:
		return "claimed by batch " + r.Record.BatchID + ", not recorded yet"
	case r.Intent != nil:
		return "published, not batched yet"
	}
	return "stored events not readable"
}

func (r *statusIntentReport) print(w io.Writer) {
	fmt.Fprintf(w, "intent %s: %s\n", r.ID, r.Summary)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if i := r.Intent; i != nil {
		fmt.Fprintf(tw, "  amount:\t%s %s\n", i.Amount, i.Currency)
		fmt.Fprintf(tw, "  debtor:\t%s\n", statusJoin(i.DebtorIBAN, i.DebtorBIC))
		fmt.Fprintf(tw, "  creditor:\t%s\n", statusJoin(i.CreditorIBAN, i.CreditorBIC, i.CreditorName))
		if i.ExecutionDate != "" {
			fmt.Fprintf(tw, "  execution date:\t%s\n", i.ExecutionDate)
		}
		if i.Profile != "" {
			fmt.Fprintf(tw, "  profile:\t%s\n", i.Profile)
		}
		fmt.Fprintf(tw, "  published:\t%s (PAYMENTS sequence %d)\n", statusStamp(i.PublishedAt), i.Sequence)
	} else if !r.unreadable {
		fmt.Fprintf(tw, "  published:\tno (never stored in PAYMENTS)\n")
	}
	if b := r.Batch; b != nil {
		if b.State != "" {
			fmt.Fprintf(tw, "  batch:\t%s, %s since %s (isogate status batch %s)\n", b.ID, b.State, statusStamp(b.Since), b.ID)
		} else {
			fmt.Fprintf(tw, "  batch:\t%s (no batch record yet)\n", b.ID)
		}
	}
	if s := r.Status; s != nil {
		var reasons []string
		for _, rs := range s.Reasons {
			reasons = append(reasons, statusJoin(rs.Code, rs.Proprietary, strings.Join(rs.Info, " ")))
		}
		fmt.Fprintf(tw, "  pay.status:\t%s\n", statusJoin(string(s.Status), statusFinal(s.Final), statusRef("group", string(s.Group)),
			"received "+statusStamp(s.ReceivedAt), strings.Join(reasons, "; ")))
	}
	if s := r.Settled; s != nil {
		fmt.Fprintf(tw, "  settled:\t%s %s %s booked %s on %s\n", s.CreditDebit, s.Amount, s.Currency, s.BookingDate, s.Account)
		fmt.Fprintf(tw, "  \t%s\n", statusJoin("statement "+s.Statement, statusRef("entry", s.EntryRef), statusRef("bank ref", s.AcctSvcrRef)))
	}
	if rj := r.Rejected; rj != nil {
		fmt.Fprintf(tw, "  rejected:\tby %s at %s\n", rj.Source, statusStamp(rj.RejectedAt))
		for _, fe := range rj.Errors {
			fmt.Fprintf(tw, "  \t%s\n", fe.Error())
		}
	}
	for _, p := range r.Problems {
		fmt.Fprintf(tw, "  problem:\t%s\n", p)
	}
	tw.Flush()
}

// statusBatchReport is `isogate status batch ID`: the KV record, debtor masked.
type statusBatchReport struct {
	*state.Batch
	Revision uint64 `json:"revision"`
}

func statusLookupBatch(ctx context.Context, js jetstream.JetStream, id string) (*statusBatchReport, error) {
	batches, _, err := state.New(ctx, js, state.Options{})
	if err != nil {
		return nil, err
	}
	b, err := batches.Get(ctx, id)
	if errors.Is(err, state.ErrNotFound) {
		return nil, errStatusUnknown
	}
	if err != nil {
		return nil, err
	}
	b.DebtorIBAN = messages.MaskIBAN(b.DebtorIBAN)
	return &statusBatchReport{Batch: b, Revision: b.Revision}, nil
}

func (r *statusBatchReport) print(w io.Writer) {
	b := r.Batch
	fmt.Fprintf(w, "batch %s: %s since %s\n", b.ID, b.State, statusStamp(b.Since()))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if b.Profile != "" || b.Message != "" {
		fmt.Fprintf(tw, "  profile:\t%s\n", strings.TrimSpace(b.Profile+" "+statusParen(b.Message)))
	}
	if b.DebtorIBAN != "" {
		fmt.Fprintf(tw, "  debtor:\t%s\n", statusJoin(b.DebtorIBAN, b.Currency, statusRef("execution", b.ExecutionDate)))
	}
	if len(b.IntentIDs) > 0 {
		fmt.Fprintf(tw, "  payments:\t%d, control sum %s %s\n", b.NbOfTxs, b.CtrlSum, b.Currency)
		ids := b.IntentIDs
		more := ""
		if len(ids) > 10 {
			more = fmt.Sprintf(" … and %d more (--json lists all)", len(ids)-10)
			ids = ids[:10]
		}
		fmt.Fprintf(tw, "  intents:\t%s%s\n", strings.Join(ids, ", "), more)
	}
	if a := b.Archive; a != nil {
		fmt.Fprintf(tw, "  file:\t%s (%d bytes, sha256 %s)\n", a.Name, a.Size, a.SHA256)
	}
	fmt.Fprintf(tw, "  upload attempts:\t%d\n", b.Attempts)
	if rc := b.Receipt; rc != nil {
		fmt.Fprintf(tw, "  bank receipt:\t%s\n", statusJoin(statusRef("ref", rc.BankRef), "received "+statusStamp(rc.ReceivedAt), statusRef("sha256", rc.SHA256)))
	}
	if b.InDoubtReason != "" {
		fmt.Fprintf(tw, "  in doubt:\t%s\n", b.InDoubtReason)
	}
	if b.GroupStatus != "" {
		fmt.Fprintf(tw, "  group status:\t%s\n", b.GroupStatus)
	}
	fmt.Fprintf(tw, "  created:\t%s, updated %s (revision %d)\n", statusStamp(b.CreatedAt), statusStamp(b.UpdatedAt), r.Revision)
	tw.Flush()
	fmt.Fprintln(w, "history:")
	if b.HistoryDropped > 0 {
		fmt.Fprintf(w, "  (%d earlier transitions not kept)\n", b.HistoryDropped)
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, h := range b.History {
		move := "→ " + string(h.To)
		if h.From != "" {
			move = string(h.From) + " " + move
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", statusStamp(h.At), move, h.Worker, h.Reason)
	}
	tw.Flush()
}

func statusStreamErr(err error) error {
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("stream %s not found on this server: is it the gateway's? (`isogate serve` creates it)", messages.StreamPayments)
	}
	if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
		return fmt.Errorf("JetStream is not enabled on this server: is it the gateway's NATS? (%w)", err)
	}
	return fmt.Errorf("reading stream %s: %w", messages.StreamPayments, err)
}

func statusStamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// join joins the non-empty parts with ", ".
func statusJoin(parts ...string) string {
	var out []string
	for _, p := range parts {
		if strings.TrimSpace(p) != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ", ")
}

func statusRef(label, v string) string {
	if v == "" {
		return ""
	}
	return label + " " + v
}

func statusParen(v string) string {
	if v == "" {
		return ""
	}
	return "(" + v + ")"
}

func statusFinal(final bool) string {
	if final {
		return "final"
	}
	return "not final"
}
