package statements

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/bank"
	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers"
	"github.com/isogate/isogate/workers/archive"
	"github.com/isogate/isogate/xmlcodec"
)

// Name is the worker's name in logs.
const Name = "statements"

// Defaults.
const (
	DefaultTick           = 30 * time.Second
	DefaultIntraday       = 15 * time.Minute
	DefaultRetry          = time.Minute
	DefaultRequestTimeout = 60 * time.Second
)

// maxDaysPerRequest bounds the days one camt.053 request asks for; the
// next poll asks for the following days.
const maxDaysPerRequest = 31

// Message families asked for.
const (
	Camt052 = "camt.052"
	Camt053 = "camt.053"
	Camt054 = "camt.054"
)

// Schedule says how often an account's statements are asked for.
type Schedule struct {
	// Intraday is the interval of camt.052 (and camt.054) requests for
	// today. Default: 15m. Negative: never.
	Intraday time.Duration
	// EndOfDayDelay is how long after midnight (UTC) the camt.053 of the
	// day just closed is first asked for; until it arrives it is asked for
	// at every poll. Default: 0.
	EndOfDayDelay time.Duration
	// Retry is the delay after a failed poll. Default: 1m.
	Retry time.Duration
}

// An Account is one account whose statements are fetched.
type Account struct {
	IBAN        string // required: the account (IBAN, or the bank's account id)
	Currency    string // account currency (camt.060 Acct/Ccy); optional
	Profile     string // bank profile; default Config.DefaultProfile
	OwnerName   string // camt.060 AcctOwnr/Pty/Nm; optional
	ServicerBIC string // camt.060 AcctSvcr; optional
	// StartDate (YYYY-MM-DD) is the first day whose camt.053 is wanted when
	// the account has no cursor yet. Default: the day of the first poll.
	StartDate string
	Schedule  Schedule
}

// Config configures the statements worker.
type Config struct {
	Accounts       []Account
	DefaultProfile string        // default: "ekase"
	Tick           time.Duration // how often Run looks for due accounts; default 30s
	RequestTimeout time.Duration // bounds one Reports call; default 60s
	// Limits bound the decoder; zero fields take xmlcodec's defaults.
	Limits xmlcodec.Limits
}

func (c *Config) setDefaults() {
	if c.DefaultProfile == "" {
		c.DefaultProfile = "ekase"
	}
	if c.Tick == 0 {
		c.Tick = DefaultTick
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	for i := range c.Accounts {
		a := &c.Accounts[i]
		if a.Profile == "" {
			a.Profile = c.DefaultProfile
		}
		if a.Schedule.Intraday == 0 {
			a.Schedule.Intraday = DefaultIntraday
		}
		if a.Schedule.Retry == 0 {
			a.Schedule.Retry = DefaultRetry
		}
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, a := range c.Accounts {
		if a.IBAN == "" {
			errs = append(errs, fmt.Errorf("accounts[%d]: iban required", i))
		}
		if seen[a.IBAN] {
			errs = append(errs, fmt.Errorf("accounts[%d]: %s listed twice", i, messages.MaskIBAN(a.IBAN)))
		}
		seen[a.IBAN] = true
		if a.StartDate != "" {
			if _, err := time.Parse(time.DateOnly, a.StartDate); err != nil {
				errs = append(errs, fmt.Errorf("accounts[%d]: start_date %q: want YYYY-MM-DD", i, a.StartDate))
			}
		}
		if a.Schedule.EndOfDayDelay < 0 || a.Schedule.EndOfDayDelay >= 24*time.Hour || a.Schedule.Retry < 0 {
			errs = append(errs, fmt.Errorf("accounts[%d]: end_of_day_delay must be in [0, 24h), retry not negative", i))
		}
	}
	if c.Tick < 0 || c.RequestTimeout < 0 {
		errs = append(errs, errors.New("tick and request timeout must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("statements: config: %w", err)
	}
	return nil
}

// Deps are what the worker works with.
type Deps struct {
	JS        jetstream.JetStream  // required: the cursors bucket
	Publisher *workers.Publisher   // required
	Archive   *archive.Archive     // required
	Channel   bank.Channel         // required
	Profiles  *xmlcodec.ProfileSet // default: the built-in profiles
	Logger    *slog.Logger         // default: discard
	Now       func() time.Time     // default time.Now
}

// Handler is the statements worker. Create it with [New].
type Handler struct {
	cfg      Config
	pub      *workers.Publisher
	arch     *archive.Archive
	ch       bank.Channel
	cursors  jetstream.KeyValue
	profiles map[string]*xmlcodec.Profile
	log      *slog.Logger
	now      func() time.Time
	seq      atomic.Uint64

	mu   sync.Mutex
	due  map[string]dueTimes // account → next polls
	seen map[string]struct{} // subjects this process saw stored: skipped without a publish
}

// maxSeen bounds the cache of stored entry subjects; past it the cache
// starts again (it only saves publishes the stream would refuse).
const maxSeen = 200_000

// stored reports whether this process already saw subject stored.
func (h *Handler) stored(subject string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.seen[subject]
	return ok
}

func (h *Handler) markStored(subject string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.seen) >= maxSeen {
		clear(h.seen)
	}
	h.seen[subject] = struct{}{}
}

type dueTimes struct{ intraday, endOfDay time.Time }

// New returns the statements worker. It resolves every account's profile
// and binds the cursors bucket now (within 10 seconds).
func New(cfg Config, deps Deps) (*Handler, error) {
	cfg.setDefaults()
	var errs []error
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if deps.JS == nil || deps.Publisher == nil || deps.Archive == nil || deps.Channel == nil {
		errs = append(errs, errors.New("statements: JS, publisher, archive and channel are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if deps.Profiles == nil {
		ps, err := xmlcodec.NewProfileSet("")
		if err != nil {
			return nil, fmt.Errorf("statements: profiles: %w", err)
		}
		deps.Profiles = ps
	}
	h := &Handler{cfg: cfg, pub: deps.Publisher, arch: deps.Archive, ch: deps.Channel, log: deps.Logger, now: deps.Now,
		profiles: map[string]*xmlcodec.Profile{}, due: map[string]dueTimes{}, seen: map[string]struct{}{}}
	if h.log == nil {
		h.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	h.log = h.log.With(slog.String("worker", Name))
	if h.now == nil {
		h.now = time.Now
	}
	for _, a := range cfg.Accounts {
		p, err := deps.Profiles.Lookup(a.Profile)
		if err != nil {
			errs = append(errs, fmt.Errorf("statements: account %s: %w", messages.MaskIBAN(a.IBAN), err))
			continue
		}
		h.profiles[a.Profile] = p
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := deps.JS.KeyValue(ctx, messages.BucketCursors)
	if err != nil {
		return nil, fmt.Errorf("statements: bucket %q: %w (is the gateway provisioned?)", messages.BucketCursors, err)
	}
	h.cursors = kv
	return h, nil
}

// Run polls every account when it is due, until ctx ends; it returns nil
// then. A failed poll is logged and tried again after the account's
// Schedule.Retry.
func (h *Handler) Run(ctx context.Context) error {
	t := time.NewTicker(h.cfg.Tick)
	defer t.Stop()
	for {
		h.pollDue(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (h *Handler) pollDue(ctx context.Context) {
	for _, a := range h.cfg.Accounts {
		if ctx.Err() != nil {
			return
		}
		now := h.now()
		h.mu.Lock()
		d := h.due[a.IBAN]
		h.mu.Unlock()
		var fams []string
		if !now.Before(d.endOfDay) {
			fams = append(fams, Camt053)
		}
		if a.Schedule.Intraday > 0 && !now.Before(d.intraday) {
			fams = append(fams, Camt052, Camt054)
		}
		if len(fams) == 0 {
			continue
		}
		err := h.poll(ctx, a, fams...)
		behind := false
		if err == nil && fams[0] == Camt053 && !now.Before(dayStart(now).Add(a.Schedule.EndOfDayDelay)) {
			c, cerr := h.loadCursor(ctx, a.IBAN, Camt053)
			behind = cerr != nil || !h.nextDay(a, c, dayStart(now)).After(dayStart(now).Add(-24*time.Hour))
		}
		if err != nil {
			h.log.ErrorContext(ctx, "polling statements failed", slog.Any("account", messages.MaskIBAN(a.IBAN)), slog.Any("error", err))
		}
		h.mu.Lock()
		next := h.due[a.IBAN]
		for _, f := range fams {
			switch {
			case err != nil:
				next.intraday, next.endOfDay = now.Add(a.Schedule.Retry), now.Add(a.Schedule.Retry)
			case f == Camt053:
				// Again after Retry while closed days are missing (a gap,
				// a long catch-up); then the next day's, after the delay.
				next.endOfDay = dayStart(now).Add(24*time.Hour + a.Schedule.EndOfDayDelay)
				if today := dayStart(now).Add(a.Schedule.EndOfDayDelay); now.Before(today) {
					next.endOfDay = today // before today's delay: nothing was asked yet
				} else if behind {
					next.endOfDay = now.Add(a.Schedule.Retry)
				}
			case f == Camt052:
				next.intraday = now.Add(a.Schedule.Intraday)
			}
		}
		h.due[a.IBAN] = next
		h.mu.Unlock()
	}
}

// PollAccount fetches the given families ("camt.053", …; all three when
// none) for one configured account now.
func (h *Handler) PollAccount(ctx context.Context, iban string, families ...string) error {
	for _, a := range h.cfg.Accounts {
		if a.IBAN == iban {
			if len(families) == 0 {
				families = []string{Camt053, Camt052, Camt054}
			}
			return h.poll(ctx, a, families...)
		}
	}
	return fmt.Errorf("statements: account %s is not configured", messages.MaskIBAN(iban))
}

func (h *Handler) poll(ctx context.Context, a Account, families ...string) error {
	p := h.profiles[a.Profile]
	now := h.now().UTC()
	today := dayStart(now)
	var errs []error
	for _, fam := range families {
		var err error
		switch fam {
		case Camt053:
			if now.Sub(today) < a.Schedule.EndOfDayDelay {
				continue
			}
			var c *Cursor
			c, err = h.loadCursor(ctx, a.IBAN, Camt053)
			if err != nil {
				break
			}
			if c.Revision == 0 && c.LastDate == "" && a.StartDate == "" {
				// No cursor and no start date: start with today's
				// statement, asked for once the day has closed.
				c.LastDate = today.Add(-24 * time.Hour).Format(time.DateOnly)
				if err = h.storeCursor(ctx, c); err != nil {
					break
				}
			}
			from := h.nextDay(a, c, today)
			last := today.Add(-24 * time.Hour)
			if from.After(last) {
				continue
			}
			if last.Sub(from) > maxDaysPerRequest*24*time.Hour { // a long catch-up: in steps
				last = from.Add((maxDaysPerRequest - 1) * 24 * time.Hour)
			}
			err = h.fetch(ctx, a, Camt053, from, last, 0)
		case Camt052:
			err = h.fetch(ctx, a, Camt052, today, today, 0)
		case Camt054:
			if p.Messages.Camt054 == "" {
				continue
			}
			err = h.fetch(ctx, a, Camt054, today, today, 0)
		default:
			err = fmt.Errorf("unknown message family %q", fam)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("statements: %s %s: %w", messages.MaskIBAN(a.IBAN), fam, err))
		}
	}
	return errors.Join(errs...)
}

// nextDay is the first day whose camt.053 is still wanted.
func (h *Handler) nextDay(a Account, c *Cursor, today time.Time) time.Time {
	if c.LastDate != "" {
		if d, err := time.Parse(time.DateOnly, c.LastDate); err == nil {
			return d.Add(24 * time.Hour)
		}
	}
	if a.StartDate != "" {
		if d, err := time.Parse(time.DateOnly, a.StartDate); err == nil {
			return d
		}
	}
	return today
}

func dayStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// fetch asks for one family and period with a camt.060, archives the
// request and every document, and processes each. depth > 0 marks a
// re-request after a gap, which does not re-request again.
func (h *Handler) fetch(ctx context.Context, a Account, fam string, from, to time.Time, depth int) error {
	p := h.profiles[a.Profile]
	now := h.now()
	msgID := fmt.Sprintf("ISGQ%d-%d", now.UnixMilli(), h.seq.Add(1))
	req, err := p.EncodeCamt060(xmlcodec.Camt060Request{MsgID: msgID, Now: h.now, Requests: []xmlcodec.ReportRequest{{
		Message: fam, Account: a.IBAN, AccountCurrency: a.Currency, OwnerName: a.OwnerName, ServicerBIC: a.ServicerBIC,
		FromDate: from.Format(time.DateOnly), ToDate: to.Format(time.DateOnly),
	}}})
	if err != nil {
		return fmt.Errorf("encoding camt.060: %w", err)
	}
	if _, err := h.arch.Put(ctx, req, map[string]string{archive.MetaKind: "camt.060", archive.MetaAccount: a.IBAN, archive.MetaMsgID: msgID}); err != nil {
		return fmt.Errorf("archiving camt.060 %s: %w", msgID, err)
	}
	rctx, cancel := context.WithTimeout(ctx, h.cfg.RequestTimeout)
	docs, err := h.ch.Reports(rctx, req)
	cancel()
	if err != nil {
		return fmt.Errorf("requesting %s %s..%s: %w", fam, from.Format(time.DateOnly), to.Format(time.DateOnly), err)
	}
	var errs []error
	for _, d := range docs {
		obj, err := h.arch.Put(ctx, d.Data, map[string]string{archive.MetaKind: fam, archive.MetaAccount: a.IBAN})
		if err != nil {
			return fmt.Errorf("archiving %s: %w", d.Name, err)
		}
		if err := h.process(ctx, a, d.Data, obj, depth); err != nil {
			errs = append(errs, fmt.Errorf("document %s: %w", obj.Name, err))
		}
	}
	return errors.Join(errs...)
}
