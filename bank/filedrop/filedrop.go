package filedrop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/isogate/isogate/bank"
	"github.com/isogate/isogate/xmlcodec"
)

// Config configures a [Channel]. The three folders must exist (the
// archive's subfolders are created as needed); they may be on different
// file systems.
type Config struct {
	Outbox  string // where files for the bank are dropped. Required.
	Inbox   string // where the bank's pain.002 and camt files arrive. Required.
	Archive string // where handed-over and processed files are kept. Required.
	// Logger receives files skipped as incomplete or malformed. Default:
	// slog.Default().
	Logger *slog.Logger
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	dirs := map[string]string{"outbox": c.Outbox, "inbox": c.Inbox, "archive": c.Archive}
	for _, name := range []string{"outbox", "inbox", "archive"} {
		dir := dirs[name]
		if dir == "" {
			errs = append(errs, fmt.Errorf("filedrop: %s folder is required", name))
			continue
		}
		if fi, err := os.Stat(dir); err != nil {
			errs = append(errs, fmt.Errorf("filedrop: %s folder: %w", name, err))
		} else if !fi.IsDir() {
			errs = append(errs, fmt.Errorf("filedrop: %s folder %s is not a directory", name, dir))
		}
	}
	for _, p := range [][2]string{{"outbox", "inbox"}, {"outbox", "archive"}, {"inbox", "archive"}} {
		a, b := dirs[p[0]], dirs[p[1]]
		if a != "" && filepath.Clean(a) == filepath.Clean(b) {
			errs = append(errs, fmt.Errorf("filedrop: %s and %s are the same folder", p[0], p[1]))
		}
	}
	return errors.Join(errs...)
}

// A Channel is the file drop [bank.Channel]. It is safe for concurrent use
// within one process; two processes must not share the folders.
type Channel struct {
	cfg Config
	mu  sync.Mutex
}

var (
	_ bank.Channel       = (*Channel)(nil)
	_ bank.HealthChecker = (*Channel)(nil)
)

// New returns a channel on the folders of cfg.
func New(cfg Config) (*Channel, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Channel{cfg: cfg}, nil
}

// Archive subfolders.
const (
	sentDir    = "sent"    // every file handed over, as <MsgId>.xml
	statusDir  = "status"  // status/<OrgnlMsgId>/…: the pain.002s received for a file
	reportsDir = "reports" // reports/<camt.060 MsgId>/…: the camt documents returned for a request
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func fsError(op, msgID string, class bank.Class, err error) *bank.Error {
	return &bank.Error{Op: op, MsgID: msgID, Class: class, Err: err}
}

// Submit drops the pain.001 into the outbox as <MsgId>.xml. See the
// package documentation for the steps and their crash safety.
func (c *Channel) Submit(ctx context.Context, file bank.File) (bank.Receipt, error) {
	if err := ctx.Err(); err != nil {
		return bank.Receipt{}, fsError(bank.OpSubmit, file.MsgID, bank.Transient, err)
	}
	if file.MsgID == "" || len(file.Data) == 0 {
		return bank.Receipt{}, fsError(bank.OpSubmit, file.MsgID, bank.Permanent, errors.New("file without MsgId or data"))
	}
	if got := bank.RequestMsgID(file.Data); got != file.MsgID {
		return bank.Receipt{}, fsError(bank.OpSubmit, file.MsgID, bank.Permanent, fmt.Errorf("document's GrpHdr/MsgId is %q", got))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	at, err := c.handOver(bank.OpSubmit, file.MsgID, file.Data)
	if err != nil {
		return bank.Receipt{}, err
	}
	return bank.Receipt{MsgID: file.MsgID, ReceivedAt: at, SHA256: sha(file.Data)}, nil
}

// handOver writes data to outbox/<msgID>.xml, once. Steps: (1) write a
// hidden temporary file in the outbox and fsync it; (2) write the archive
// copy sent/<msgID>.xml atomically; (3) rename the temporary file into
// place and fsync the outbox. A crash after (2) leaves a temporary file
// that the next call with the same bytes renames into place; the archive
// copy without a temporary file means the hand-over happened (the bank
// may have taken the file away since).
func (c *Channel) handOver(op, msgID string, data []byte) (time.Time, error) {
	name := fileName(msgID) + ".xml"
	out := filepath.Join(c.cfg.Outbox, name)
	sent := filepath.Join(c.cfg.Archive, sentDir, name)

	if old, ok, err := readIfExists(out); err != nil {
		return time.Time{}, fsError(op, msgID, bank.Transient, err)
	} else if ok {
		if !slices.Equal(old, data) {
			return time.Time{}, fsError(op, msgID, bank.Duplicate, fmt.Errorf("outbox holds other bytes under %s", name))
		}
		if _, ok, _ := readIfExists(sent); !ok {
			if err := writeAtomic(filepath.Dir(sent), name, data); err != nil {
				return time.Time{}, fsError(op, msgID, bank.Transient, fmt.Errorf("archiving: %w", err))
			}
		}
		return modTime(out), nil
	}
	temps := c.temps(name)
	if old, ok, err := readIfExists(sent); err != nil {
		return time.Time{}, fsError(op, msgID, bank.Transient, err)
	} else if ok {
		if !slices.Equal(old, data) {
			return time.Time{}, fsError(op, msgID, bank.Duplicate, fmt.Errorf("archive holds other bytes under %s", name))
		}
		// Sent, unless a crash came between steps 2 and 3.
		for _, tmp := range temps {
			if b, err := os.ReadFile(tmp); err == nil && slices.Equal(b, data) {
				if err := os.Rename(tmp, out); err != nil {
					return time.Time{}, fsError(op, msgID, bank.Transient, err)
				}
				if err := syncDir(c.cfg.Outbox); err != nil {
					return time.Time{}, fsError(op, msgID, bank.OutcomeUnknown, err)
				}
				return modTime(out), nil
			}
		}
		return modTime(sent), nil
	}
	for _, tmp := range temps { // left by a crash before step 2: never handed over
		os.Remove(tmp)
	}
	tmp, err := writeTemp(c.cfg.Outbox, name, data)
	if err != nil {
		return time.Time{}, fsError(op, msgID, bank.Transient, fmt.Errorf("writing the outbox: %w", err))
	}
	if err := writeAtomic(filepath.Dir(sent), name, data); err != nil {
		os.Remove(tmp)
		return time.Time{}, fsError(op, msgID, bank.Transient, fmt.Errorf("archiving: %w", err))
	}
	if err := os.Rename(tmp, out); err != nil {
		// Not handed over; the archive copy and the temporary file make
		// the next call finish the hand-over.
		return time.Time{}, fsError(op, msgID, bank.Transient, fmt.Errorf("renaming into the outbox: %w", err))
	}
	if err := syncDir(c.cfg.Outbox); err != nil {
		return time.Time{}, fsError(op, msgID, bank.OutcomeUnknown, fmt.Errorf("syncing the outbox: %w", err))
	}
	return modTime(out), nil
}

// temps lists the temporary files of name in the outbox.
func (c *Channel) temps(name string) []string {
	m, _ := filepath.Glob(filepath.Join(c.cfg.Outbox, "."+globEscape(name)+".*.tmp"))
	return m
}

func globEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(s)
}

func modTime(path string) time.Time {
	if fi, err := os.Stat(path); err == nil {
		return fi.ModTime().UTC()
	}
	return time.Now().UTC()
}

// Status returns the latest pain.002 received for msgID: it files every
// complete pain.002 in the inbox under the archive first. With nothing
// received it returns an error matching [bank.ErrUnknownToBank] — which
// for a file drop means "nothing has come back yet", not "never
// received" (see the package documentation).
func (c *Channel) Status(ctx context.Context, msgID string) (bank.Document, error) {
	if err := ctx.Err(); err != nil {
		return bank.Document{}, fsError(bank.OpStatus, msgID, bank.Transient, err)
	}
	if msgID == "" {
		return bank.Document{}, fsError(bank.OpStatus, msgID, bank.Permanent, errors.New("empty MsgId"))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ingest(""); err != nil {
		return bank.Document{}, fsError(bank.OpStatus, msgID, bank.Transient, err)
	}
	items, err := c.archived(filepath.Join(c.cfg.Archive, statusDir, fileName(msgID)))
	if err != nil {
		return bank.Document{}, fsError(bank.OpStatus, msgID, bank.Transient, err)
	}
	if len(items) == 0 {
		return bank.Document{}, fsError(bank.OpStatus, msgID, bank.UnknownToBank, errors.New("no pain.002 in the inbox or archive"))
	}
	return latest(items), nil
}

// latest picks the status to answer with: the newest pain.002 by the time
// the bank wrote it (then by how far the status has come, then by name),
// passing over rejections of a duplicate upload (GrpSts RJCT, reason
// DUPL) — they answer a second copy of the file, not the file — unless
// there is nothing else.
func latest(items []archivedDoc) bank.Document {
	type ranked struct {
		archivedDoc
		rank int
		dupl bool
	}
	rs := make([]ranked, len(items))
	for i, it := range items {
		group, dupl := summary(it.doc.Data)
		rs[i] = ranked{it, statusRank[group], dupl}
	}
	slices.SortStableFunc(rs, func(a, b ranked) int {
		if c := a.mod.Compare(b.mod); c != 0 {
			return c
		}
		if a.rank != b.rank {
			return a.rank - b.rank
		}
		return strings.Compare(a.doc.Name, b.doc.Name)
	})
	for i := len(rs) - 1; i >= 0; i-- {
		if !rs[i].dupl {
			return rs[i].doc
		}
	}
	return rs[len(rs)-1].doc
}

// statusRank orders group statuses by progress (pain.002 GrpSts:
// ExternalPaymentGroupStatus1Code).
var statusRank = map[string]int{
	xmlcodec.StatusRCVD: 1, xmlcodec.StatusPDNG: 1, xmlcodec.StatusACTC: 2, xmlcodec.StatusACCP: 3,
	xmlcodec.StatusACSP: 4, xmlcodec.StatusACWC: 4, xmlcodec.StatusPART: 4,
	xmlcodec.StatusACSC: 5, xmlcodec.StatusACCC: 5, xmlcodec.StatusRJCT: 5,
}

// summary returns a pain.002's group status and whether it rejects a
// duplicate MsgId.
func summary(data []byte) (group string, dupl bool) {
	d := xmlcodec.NewDecoder(bytes.NewReader(data), xmlcodec.Limits{})
	rec, err := d.Next()
	s, ok := rec.(*xmlcodec.Status)
	if err != nil || !ok {
		return "", false
	}
	for _, r := range s.GroupReasons {
		dupl = dupl || r.Code == "DUPL"
	}
	return s.GroupStatus, s.GroupStatus == xmlcodec.StatusRJCT && dupl
}

// Reports drops the camt.060 into the outbox as <MsgId>.xml (once: the
// same request again is not re-sent) and returns every camt document
// received for it so far: those whose GrpHdr/OrgnlBizQry/MsgId names it,
// and those naming no request that arrived before this call. A repeated
// call returns them again, plus what came since.
func (c *Channel) Reports(ctx context.Context, camt060 []byte) ([]bank.Document, error) {
	msgID := bank.RequestMsgID(camt060)
	if err := ctx.Err(); err != nil {
		return nil, fsError(bank.OpReports, msgID, bank.Transient, err)
	}
	if _, _, err := bank.CheckDocument(camt060, "camt.060"); err != nil {
		return nil, fsError(bank.OpReports, msgID, bank.Permanent, err)
	}
	if msgID == "" {
		return nil, fsError(bank.OpReports, msgID, bank.Permanent, errors.New("camt.060 without GrpHdr/MsgId"))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.handOver(bank.OpReports, msgID, camt060); err != nil {
		return nil, err
	}
	if err := c.ingest(msgID); err != nil {
		return nil, fsError(bank.OpReports, msgID, bank.Transient, err)
	}
	if body, err := c.refusal(msgID); err != nil {
		return nil, fsError(bank.OpReports, msgID, bank.Transient, err)
	} else if body != nil {
		return nil, &bank.Error{Op: bank.OpReports, MsgID: msgID, Class: bank.Permanent, Body: body,
			Err: fmt.Errorf("the bank refused the request: %s", bank.Reasons(body))}
	}
	items, err := c.archived(filepath.Join(c.cfg.Archive, reportsDir, fileName(msgID)))
	if err != nil {
		return nil, fsError(bank.OpReports, msgID, bank.Transient, err)
	}
	docs := make([]bank.Document, len(items))
	for i, it := range items {
		docs[i] = it.doc
	}
	return docs, nil
}

// ingest files the complete documents of the inbox under the archive:
// each pain.002 under status/<OrgnlMsgId>/, each camt document answering
// a request under reports/<request MsgId>/, and — when claim is set — the
// camt documents answering no request under reports/<claim>/. Hidden and
// temporary names are never opened; a file that does not read as a
// complete, well-formed document stays where it is (it may still be being
// written by a tool that does not rename) and is logged.
func (c *Channel) ingest(claim string) error {
	entries, err := os.ReadDir(c.cfg.Inbox)
	if err != nil {
		return fmt.Errorf("reading the inbox: %w", err)
	}
	var sent []string // names of the requests handed over, for answers named after them
	for _, e := range entries {
		if !e.Type().IsRegular() || isTemp(e.Name()) || !strings.EqualFold(filepath.Ext(e.Name()), ".xml") {
			continue // not ours to judge: only complete *.xml files are read
		}
		path := filepath.Join(c.cfg.Inbox, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		info, orig, err := bank.CheckDocument(data, "pain.002", "camt.052", "camt.053", "camt.054")
		if err != nil {
			c.cfg.Logger.Warn("filedrop: inbox file skipped", slog.String("file", path), slog.String("error", err.Error()))
			continue
		}
		var dir string
		switch {
		case info.Family == "pain.002":
			dir = filepath.Join(c.cfg.Archive, statusDir, fileName(orig))
		default:
			if sent == nil {
				sent = c.sentNames()
			}
			q := answers(e.Name(), data, sent, claim)
			if q == "" {
				continue // waits for the Reports call of its request
			}
			dir = filepath.Join(c.cfg.Archive, reportsDir, fileName(q))
		}
		if _, err := move(path, dir, data); err != nil {
			return fmt.Errorf("archiving %s: %w", path, err)
		}
	}
	return nil
}

// refusal returns the bank's refusal of the camt.060 msgID, nil if none:
// a file that is not XML and is named after the request's outbox file
// (banksim writes "<MsgId>.xml.error.txt"). It is moved to
// Archive/reports/<MsgId>/refused/, where later calls find it again.
func (c *Channel) refusal(msgID string) ([]byte, error) {
	dir := filepath.Join(c.cfg.Archive, reportsDir, fileName(msgID), "refused")
	prefix := fileName(msgID) + ".xml."
	entries, err := os.ReadDir(c.cfg.Inbox)
	if err != nil {
		return nil, fmt.Errorf("reading the inbox: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || isTemp(name) || !strings.HasPrefix(name, prefix) || strings.EqualFold(filepath.Ext(name), ".xml") {
			continue
		}
		path := filepath.Join(c.cfg.Inbox, name)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if _, err := move(path, dir, data); err != nil {
			return nil, err
		}
	}
	entries, err = os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.Type().IsRegular() && !isTemp(e.Name()) {
			return os.ReadFile(filepath.Join(dir, e.Name()))
		}
	}
	return nil, nil
}

// answers returns the MsgId of the camt.060 a camt file answers: the one
// its GrpHdr/OrgnlBizQry/MsgId names, else the one whose outbox file name
// (<MsgId>.xml) begins its name followed by a dot (banksim and several
// host-to-host tools name answers so: "REQ-1.xml.camt.053.xml"), else —
// a report sent unasked — claim. sent lists the outbox file names handed
// over.
func answers(name string, data []byte, sent []string, claim string) string {
	if q := bank.OriginalQueryMsgID(data); q != "" {
		return q
	}
	if claim != "" && strings.HasPrefix(name, fileName(claim)+".xml.") {
		return claim
	}
	for _, s := range sent {
		if strings.HasPrefix(name, s+".") {
			return msgIDOf(strings.TrimSuffix(s, ".xml"))
		}
	}
	return claim
}

// msgIDOf reverses fileName.
func msgIDOf(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		if name[i] == '%' && i+2 < len(name) {
			var c byte
			if _, err := fmt.Sscanf(name[i+1:i+3], "%02X", &c); err == nil {
				b.WriteByte(c)
				i += 2
				continue
			}
		}
		b.WriteByte(name[i])
	}
	return b.String()
}

// sentNames lists the file names handed over (archive/sent).
func (c *Channel) sentNames() []string {
	entries, _ := os.ReadDir(filepath.Join(c.cfg.Archive, sentDir))
	out := []string{}
	for _, e := range entries {
		if e.Type().IsRegular() && !isTemp(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

// An archivedDoc is a document filed in the archive.
type archivedDoc struct {
	doc bank.Document
	mod time.Time // when the bank wrote it (a rename keeps it)
}

// archived returns the documents filed in dir, oldest first (by
// modification time, then name).
func (c *Channel) archived(dir string) ([]archivedDoc, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var items []archivedDoc
	for _, e := range entries {
		if !e.Type().IsRegular() || isTemp(e.Name()) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		info, _, err := bank.CheckDocument(data, "pain.002", "camt.052", "camt.053", "camt.054")
		if err != nil {
			return nil, fmt.Errorf("archived %s: %w", path, err)
		}
		fi, err := e.Info()
		if err != nil {
			return nil, err
		}
		items = append(items, archivedDoc{bank.Document{Message: info.Message, Name: path, Data: data}, fi.ModTime()})
	}
	slices.SortFunc(items, func(a, b archivedDoc) int {
		if c := a.mod.Compare(b.mod); c != 0 {
			return c
		}
		return strings.Compare(a.doc.Name, b.doc.Name)
	})
	return items, nil
}

// Health checks that the inbox is readable and the outbox and archive
// writable.
func (c *Channel) Health(ctx context.Context) error {
	if _, err := os.ReadDir(c.cfg.Inbox); err != nil {
		return fsError(bank.OpHealth, "", bank.Transient, fmt.Errorf("inbox: %w", err))
	}
	for _, dir := range []string{c.cfg.Outbox, c.cfg.Archive} {
		tmp, err := writeTemp(dir, "health", nil)
		if err != nil {
			return fsError(bank.OpHealth, "", bank.Transient, fmt.Errorf("folder %s: %w", dir, err))
		}
		os.Remove(tmp)
	}
	return nil
}
