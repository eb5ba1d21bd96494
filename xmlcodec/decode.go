package xmlcodec

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// Limits bound what a decoder accepts. Zero fields take the defaults of
// [DefaultLimits].
type Limits struct {
	MaxBytes      int64 // whole input; default 512 MiB
	MaxDepth      int   // element nesting; default 64 (ISO 20022 messages need < 20)
	MaxTokenBytes int   // one token: a text node, a tag with its attributes; default 1 MiB
	MaxAttrs      int   // attributes of one element; default 64
	MaxElements   int   // elements of one block (an entry without its TxDtls, one TxDtls, a balance, a status); default 200,000
	MaxTxPerEntry int   // TxDtls kept per entry (a batch booking); default 50,000
}

// DefaultLimits returns the limits used for zero fields.
func DefaultLimits() Limits {
	return Limits{MaxBytes: 512 << 20, MaxDepth: 64, MaxTokenBytes: 1 << 20, MaxAttrs: 64, MaxElements: 200000, MaxTxPerEntry: 50000}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxBytes > 0 {
		d.MaxBytes = l.MaxBytes
	}
	if l.MaxDepth > 0 {
		d.MaxDepth = l.MaxDepth
	}
	if l.MaxTokenBytes > 0 {
		d.MaxTokenBytes = l.MaxTokenBytes
	}
	if l.MaxAttrs > 0 {
		d.MaxAttrs = l.MaxAttrs
	}
	if l.MaxElements > 0 {
		d.MaxElements = l.MaxElements
	}
	if l.MaxTxPerEntry > 0 {
		d.MaxTxPerEntry = l.MaxTxPerEntry
	}
	return d
}

// MessageInfo identifies a decoded document.
type MessageInfo struct {
	Namespace string // as written in the document ("" when it has none)
	Message   string // e.g. "camt.053.001.02"; family only ("camt.053") when the namespace has no version
	Family    string // "camt.052", "camt.053", "camt.054", "pain.002" or "pain.001"
	Root      string // business element, e.g. "BkToCstmrStmt"
}

// limitedReader caps the total input and the bytes read since the start of
// the current token, so a 64 MB attribute never reaches memory.
type limitedReader struct {
	r        io.Reader
	n, max   int64
	mark     int64 // input offset where the current token began
	maxToken int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n >= l.max {
		// At the cap: an input of exactly MaxBytes is fine, one more byte is not.
		var one [1]byte
		if k, err := l.r.Read(one[:]); k == 0 && err == io.EOF {
			return 0, io.EOF
		}
		return 0, ErrTooLarge
	}
	if l.n-l.mark > l.maxToken {
		return 0, ErrTokenTooLarge
	}
	if int64(len(p)) > l.max-l.n {
		p = p[:l.max-l.n]
	}
	if len(p) > 64<<10 {
		p = p[:64<<10]
	}
	k, err := l.r.Read(p)
	l.n += int64(k)
	return k, err
}

// A Decoder reads a pain.002 or camt.052/053/054 document as a stream of
// records: [*Report] (one per statement/report/notification, before its
// balances and entries), [*Balance], [*Entry] and [*Status].
//
// It holds one record in memory at a time and reads one block at a time
// (an entry's own fields, then each TxDtls, into small trees reused from
// entry to entry, see block.go; each balance, header and TxInfAndSts into
// an etree subtree), so memory does not grow with the file. Tokens come
// from encoding/xml's RawToken: no XML is parsed by hand.
type Decoder struct {
	lim  Limits
	lr   *limitedReader
	br   *bufio.Reader
	xd   *xml.Decoder
	info MessageInfo
	err  error // sticky, final error

	depth    int
	started  bool
	ready    bool // Next has checked the family and set rptTag
	rootDone bool // the root element has ended
	bomDone  bool
	recLine  int        // line where the current record's block starts
	open     []xml.Name // open elements (raw prefix:local), to match end tags
	queue    []Record
	pending  []Record // balances read before the report header was sent

	// position
	rptTag    string
	rptIdx    int
	inRpt     bool
	childIdx  map[string]int // sibling counters inside the current report
	grp       grpHeader
	rpt       *Report
	rptSent   bool
	statusCnt int
	pain      painState
	entries   entryReader // blocks reused from entry to entry
	// refReadEntry, set by tests, reads entries instead of readEntry: the
	// etree reference (TestEntryBlockMatchesDOM compares the two).
	refReadEntry func(start xml.StartElement, at func() string) (*Entry, error, error)
	// refPainTx, set by tests, reads a pain.001 CdtTrfTxInf from an etree
	// subtree instead of a block (TestPainTxBlockMatchesDOM).
	refPainTx func(e *etree.Element, path string) (Payment, error)
}

// NewDecoder returns a decoder reading r within lim (zero fields: defaults).
func NewDecoder(r io.Reader, lim Limits) *Decoder {
	lim = lim.withDefaults()
	lr := &limitedReader{r: r, max: lim.MaxBytes, maxToken: int64(lim.MaxTokenBytes)}
	br := bufio.NewReaderSize(lr, 32<<10)
	xd := xml.NewDecoder(br)
	xd.Strict = true
	xd.CharsetReader = charsetReader
	return &Decoder{lim: lim, lr: lr, br: br, xd: xd}
}

// charsetReader accepts the encodings banks use besides UTF-8.
func charsetReader(label string, in io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return in, nil
	case "iso-8859-1", "iso8859-1", "latin1", "l1":
		return &latin1Reader{r: in}, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrEncoding, label)
}

type latin1Reader struct {
	r   io.Reader
	buf []byte
}

func (l *latin1Reader) Read(p []byte) (int, error) {
	if len(p) < 2 {
		return 0, io.ErrShortBuffer
	}
	if cap(l.buf) < len(p)/2 {
		l.buf = make([]byte, len(p)/2)
	}
	n, err := l.r.Read(l.buf[:len(p)/2])
	out := p[:0]
	for _, b := range l.buf[:n] {
		if b < 0x80 {
			out = append(out, b)
		} else {
			out = append(out, 0xC0|b>>6, 0x80|b&0x3F)
		}
	}
	return len(out), err
}

// fail records a final error at the current position.
func (d *Decoder) fail(path string, err error) error {
	var de *DecodeError
	if !errors.As(err, &de) {
		line, _ := d.xd.InputPos()
		err = &DecodeError{Path: path, Line: line, Err: err}
	}
	d.err = err
	return err
}

// token reads the next token under the limits. Errors are unwrapped
// sentinels (the caller adds the path).
func (d *Decoder) token() (xml.Token, error) {
	if !d.bomDone {
		// A UTF-8 byte-order mark (Windows tools write one) is not text.
		d.bomDone = true
		if b, _ := d.br.Peek(3); bytes.Equal(b, []byte("\xef\xbb\xbf")) {
			_, _ = d.br.Discard(3)
		}
	}
	d.lr.mark = d.xd.InputOffset()
	// RawToken: no namespace translation (ISO 20022 documents use one
	// namespace; Message resolves the root's); end tags are matched here.
	tok, err := d.xd.RawToken()
	if err != nil {
		switch {
		case errors.Is(err, ErrTooLarge), errors.Is(err, ErrTokenTooLarge), errors.Is(err, ErrEncoding):
			return nil, err
		case err == io.EOF:
			if !d.rootDone || d.info.Root == "" { // EOF before the business element: not a message
				return nil, fmt.Errorf("%w: unexpected end of input (truncated?)", ErrSyntax)
			}
			return nil, io.EOF
		}
		var se *xml.SyntaxError
		if errors.As(err, &se) {
			if strings.Contains(se.Msg, "encoding") {
				return nil, fmt.Errorf("%w: %s", ErrEncoding, se.Msg)
			}
			return nil, fmt.Errorf("%w: %s", ErrSyntax, se.Msg)
		}
		if strings.Contains(err.Error(), "CharsetReader") || strings.Contains(err.Error(), "encoding") {
			return nil, fmt.Errorf("%w: %v", ErrEncoding, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	switch t := tok.(type) {
	case xml.Directive:
		return nil, ErrDoctype
	case xml.StartElement:
		if d.rootDone {
			return nil, fmt.Errorf("%w: second root element <%s>", ErrSyntax, t.Name.Local)
		}
		d.depth++
		if d.depth > d.lim.MaxDepth {
			return nil, fmt.Errorf("%w: more than %d levels", ErrTooDeep, d.lim.MaxDepth)
		}
		d.open = append(d.open, t.Name)
		if len(t.Attr) > d.lim.MaxAttrs {
			return nil, fmt.Errorf("%w: %d on <%s>", ErrTooManyAttrs, len(t.Attr), t.Name.Local)
		}
	case xml.EndElement:
		if len(d.open) == 0 || d.open[len(d.open)-1] != t.Name {
			want := "none"
			if len(d.open) > 0 {
				want = "</" + qname(d.open[len(d.open)-1]) + ">"
			}
			return nil, fmt.Errorf("%w: end tag </%s>, want %s", ErrSyntax, qname(t.Name), want)
		}
		d.open = d.open[:len(d.open)-1]
		d.depth--
		d.rootDone = d.depth == 0
	case xml.CharData:
		if d.depth == 0 && len(bytes.TrimSpace(t)) > 0 {
			return nil, fmt.Errorf("%w: text outside the root element", ErrSyntax)
		}
	}
	return tok, nil
}

// subtree reads the element whose start tag was just read into an etree
// element with local names only (ISO 20022 documents use one namespace).
func (d *Decoder) subtree(start xml.StartElement) (*etree.Element, error) {
	budget := d.lim.MaxElements
	return d.subtreeBudget(start, &budget)
}

// subtreeBudget is subtree drawing its elements from a shared budget.
func (d *Decoder) subtreeBudget(start xml.StartElement, budget *int) (*etree.Element, error) {
	root := newElem(start)
	stack := []*etree.Element{root}
	var text []byte
	if *budget--; *budget < 0 {
		return nil, fmt.Errorf("%w: more than %d", ErrTooManyElements, d.lim.MaxElements)
	}
	for {
		tok, err := d.token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			*budget--
			if *budget < 0 {
				return nil, fmt.Errorf("%w: more than %d", ErrTooManyElements, d.lim.MaxElements)
			}
			e := newElem(t)
			stack[len(stack)-1].AddChild(e)
			stack = append(stack, e)
			text = text[:0]
		case xml.CharData:
			text = append(text, t...)
		case xml.EndElement:
			top := stack[len(stack)-1]
			if len(top.Child) == 0 {
				if s := strings.TrimSpace(string(text)); s != "" {
					top.SetText(s)
				}
			}
			text = text[:0]
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return root, nil
			}
		}
	}
}

func qname(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

// resolveNS returns the namespace URI of a raw element name, looking for
// its prefix's declaration on the element itself, then on parent.
func resolveNS(t xml.StartElement, parent []xml.Attr) string {
	for _, attrs := range [][]xml.Attr{t.Attr, parent} {
		for _, a := range attrs {
			if t.Name.Space == "" && a.Name.Space == "" && a.Name.Local == "xmlns" {
				return a.Value
			}
			if t.Name.Space != "" && a.Name.Space == "xmlns" && a.Name.Local == t.Name.Space {
				return a.Value
			}
		}
	}
	return ""
}

func newElem(t xml.StartElement) *etree.Element {
	e := etree.NewElement(t.Name.Local)
	for _, a := range t.Attr {
		if a.Name.Space == "xmlns" || a.Name.Local == "xmlns" || a.Name.Space != "" {
			continue
		}
		e.CreateAttr(a.Name.Local, a.Value)
	}
	return e
}

// skip consumes the element whose start tag was just read.
func (d *Decoder) skip() error {
	target := d.depth - 1
	for d.depth > target {
		if _, err := d.token(); err != nil {
			return err
		}
	}
	return nil
}

var (
	nsVersionRE = regexp.MustCompile(`(pain|camt)\.(\d{3})\.(\d{3})\.(\d{2})`)
	rootFamily  = map[string]string{
		"BkToCstmrAcctRpt":      "camt.052",
		"BkToCstmrStmt":         "camt.053",
		"BkToCstmrDbtCdtNtfctn": "camt.054",
		"CstmrPmtStsRpt":        "pain.002",
		"CstmrCdtTrfInitn":      "pain.001",
		"AcctRptgReq":           "camt.060",
	}
	reportTag = map[string]string{"camt.052": "Rpt", "camt.053": "Stmt", "camt.054": "Ntfctn"}
)

// Message reads up to the business element and reports what the document
// is. Next calls it implicitly.
func (d *Decoder) Message() (MessageInfo, error) {
	if d.started || d.err != nil {
		return d.info, d.err
	}
	d.started = true
	var seen []string
	var rootAttrs []xml.Attr
	for len(seen) < 2 {
		tok, err := d.token()
		if err != nil {
			at := strings.Join(seen, "/")
			if at == "" {
				at = "(prolog)"
			}
			return d.info, d.fail(at, err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		seen = append(seen, se.Name.Local)
		if len(seen) == 1 {
			if se.Name.Local != "Document" {
				return d.info, d.fail(se.Name.Local, fmt.Errorf("%w: root element <%s>, want <Document>", ErrUnsupportedMessage, se.Name.Local))
			}
			rootAttrs = se.Attr
			d.info.Namespace = resolveNS(se, nil)
			continue
		}
		d.info.Root = se.Name.Local
		if ns := resolveNS(se, rootAttrs); ns != d.info.Namespace {
			return d.info, d.fail(se.Name.Local, fmt.Errorf("%w: <Document> in %q but <%s> in %q", ErrUnsupportedMessage, d.info.Namespace, se.Name.Local, ns))
		}
	}
	fam, ok := rootFamily[d.info.Root]
	ns := d.info.Namespace
	m := nsVersionRE.FindString(ns)
	switch {
	case !ok:
		return d.info, d.fail(d.info.Root, fmt.Errorf("%w: unknown business element <%s>", ErrUnsupportedMessage, d.info.Root))
	case ns == "":
		d.info.Family, d.info.Message = fam, fam
	case m == "":
		return d.info, d.fail(d.info.Root, fmt.Errorf("%w: namespace %q", ErrUnsupportedMessage, ns))
	case m[:8] != fam:
		return d.info, d.fail(d.info.Root, fmt.Errorf("%w: namespace %q but element <%s> (%s)", ErrUnsupportedMessage, ns, d.info.Root, fam))
	default:
		d.info.Family, d.info.Message = fam, m
	}
	return d.info, nil
}

// Next returns the next record, or io.EOF after the last. After a
// [*DecodeError] for which [Recoverable] is true (one bad entry, balance or
// status), Next may be called again to continue with the next record.
func (d *Decoder) Next() (Record, error) {
	if !d.ready {
		// Message may have been called already (to look at the document
		// before decoding it); it returns what it found then.
		if _, err := d.Message(); err != nil {
			return nil, err
		}
		d.ready = true
		switch d.info.Family {
		case "camt.052", "camt.053", "camt.054", "pain.002":
		default:
			return nil, d.fail(d.info.Root, fmt.Errorf("%w: %s is not decoded here", ErrUnsupportedMessage, d.info.Family))
		}
		d.rptTag = reportTag[d.info.Family]
	}
	for {
		if len(d.queue) > 0 {
			r := d.queue[0]
			d.queue = d.queue[1:]
			if e, ok := r.(recordErr); ok {
				return nil, e.err
			}
			return r, nil
		}
		if d.err != nil {
			return nil, d.err
		}
		tok, err := d.token()
		if err == io.EOF {
			return nil, io.EOF
		}
		if err != nil {
			return nil, d.fail(d.path(""), err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := d.start(t); err != nil {
				return nil, err
			}
		case xml.EndElement:
			d.end(t)
		}
	}
}

// Recoverable reports whether a [Decoder] can go on after err: the error
// concerned one record, which was skipped.
func Recoverable(err error) bool {
	var de *DecodeError
	return errors.As(err, &de) && recoverable(err)
}

// recordErr queues a per-record error in document order.
type recordErr struct{ err error }

func (recordErr) isRecord() {}

func (d *Decoder) path(child string) string {
	p := d.info.Root
	if d.inRpt {
		p += fmt.Sprintf("/%s[%d]", d.rptTag, d.rptIdx)
	}
	if child != "" {
		p += "/" + child
	}
	return p
}

// start handles a start tag outside any captured block. Depth 2 is the
// business element's children (GrpHdr, Stmt…); depth 3 under a report are
// its parts (Acct, Bal, Ntry…).
func (d *Decoder) start(t xml.StartElement) error {
	name := t.Name.Local
	if d.info.Family == "pain.002" {
		return d.painStart(t)
	}
	switch {
	case d.depth == 3 && name == d.rptTag:
		d.inRpt = true
		d.rptIdx++
		d.childIdx = map[string]int{}
		d.rpt = &Report{Kind: "report", Message: d.info.Message, MsgID: d.grp.msgID, Pagination: d.grp.pgntn}
		d.rptSent = false
		return nil
	case d.depth == 3 && name == "GrpHdr":
		e, err := d.subtree(t)
		if err != nil {
			return d.fail(d.path(name), err)
		}
		d.grp = readGrpHdr(e)
		return nil
	case d.depth == 4 && d.inRpt:
		d.childIdx[name]++
		d.recLine, _ = d.xd.InputPos()
		if name == "Ntry" {
			d.sendReport()
			// The entry's path is written out only for an error.
			idx := d.childIdx[name]
			at := func() string { return d.path(fmt.Sprintf("Ntry[%d]", idx)) }
			read := d.readEntry
			if d.refReadEntry != nil {
				read = d.refReadEntry
			}
			en, recErr, err := read(t, at)
			if err != nil {
				return d.fail(at(), err)
			}
			d.enqueue(en, recErr)
			return nil
		}
		pos := fmt.Sprintf("%s[%d]", name, d.childIdx[name])
		e, err := d.subtree(t)
		if err != nil {
			return d.fail(d.path(pos), err)
		}
		switch name {
		case "Bal":
			// Balances wait for the report header, which TxsSummry (after
			// Bal in the schema) completes; a flood of them does not.
			b, err := d.readBalance(e, d.path(pos))
			if d.rptSent || len(d.pending) >= 1000 {
				d.sendReport()
				d.enqueue(b, err)
			} else if err != nil {
				d.pending = append(d.pending, recordErr{err})
			} else {
				d.pending = append(d.pending, b)
			}
		default:
			d.rpt.addHeader(name, e)
		}
		return nil
	case d.depth >= 3:
		if err := d.skip(); err != nil {
			return d.fail(d.path(name), err)
		}
	}
	return nil
}

func (d *Decoder) enqueue(r Record, err error) {
	if err != nil {
		var de *DecodeError
		if errors.As(err, &de) && de.Line == 0 {
			de.Line = d.recLine
		}
		d.queue = append(d.queue, recordErr{err})
		return
	}
	d.queue = append(d.queue, r)
}

func (d *Decoder) sendReport() {
	if !d.rptSent && d.rpt != nil {
		d.rptSent = true
		d.queue = append(d.queue, d.rpt)
		d.queue = append(d.queue, d.pending...)
		d.pending = d.pending[:0]
	}
}

func (d *Decoder) end(t xml.EndElement) {
	if d.info.Family == "pain.002" {
		d.painEnd(t)
		return
	}
	if d.depth == 2 && t.Name.Local == d.rptTag && d.inRpt {
		d.sendReport()
		d.inRpt = false
	}
}

// grpHeader is what the decoder keeps of GrpHdr.
type grpHeader struct {
	msgID, creDtTm string
	pgntn          *Pagination
}

func readGrpHdr(e *etree.Element) grpHeader {
	g := grpHeader{msgID: text(e, "MsgId"), creDtTm: text(e, "CreDtTm")}
	if p := e.SelectElement("MsgPgntn"); p != nil {
		g.pgntn = &Pagination{Page: text(p, "PgNb"), Last: text(p, "LastPgInd") == "true" || text(p, "LastPgInd") == "1"}
	}
	return g
}

// child walks a chain of child element names.
func child(e *etree.Element, names ...string) *etree.Element {
	for _, n := range names {
		if e == nil {
			return nil
		}
		e = e.SelectElement(n)
	}
	return e
}

// text returns the trimmed text at the chain of child names ("" if absent).
func text(e *etree.Element, names ...string) string {
	if c := child(e, names...); c != nil {
		return c.Text()
	}
	return ""
}

// money reads an amount element with its Ccy attribute.
func money(e *etree.Element, path string) (*Money, error) {
	amt := e.Text()
	if !validDecimal(amt) {
		return nil, &DecodeError{Path: path, Err: fmt.Errorf("%w: %q", ErrInvalidAmount, amt)}
	}
	ccy := e.SelectAttrValue("Ccy", "")
	if ccy == "" {
		return nil, &DecodeError{Path: path + "/@Ccy", Err: ErrMissingElement}
	}
	return &Money{Amount: amt, Currency: ccy}, nil
}

func creditDebit(e *etree.Element, path string, required bool) (string, error) {
	v := text(e, "CdtDbtInd")
	switch v {
	case "CRDT", "DBIT":
		return v, nil
	case "":
		if !required {
			return "", nil
		}
		return "", &DecodeError{Path: path + "/CdtDbtInd", Err: ErrMissingElement}
	}
	return "", &DecodeError{Path: path + "/CdtDbtInd", Err: fmt.Errorf("%w: %q (want CRDT or DBIT)", ErrInvalidValue, v)}
}

// dateOf reads a DateAndDateTimeChoice (Dt or DtTm).
func dateOf(e *etree.Element) string {
	if e == nil {
		return ""
	}
	if s := text(e, "Dt"); s != "" {
		return s
	}
	return text(e, "DtTm")
}

func atoiPtr(s string) *int {
	if s == "" {
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return nil
	}
	return &n
}
