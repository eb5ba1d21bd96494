package xmlcodec

import (
	"unicode/utf8"
)

// An xmlWriter appends an XML document to a byte slice. It writes exactly
// what etree writes for a tree built with CreateElement, CreateAttr and
// SetText, written as built (flat: no whitespace between elements) or
// indented with Document.Indent(2) first (the output of the DOM path is
// the reference: TestPain001FastMatchesDOM compares them), so the hot
// encoders need no tree and no reflection.
//
// Elements are opened with start, given attributes with attr while their
// start tag is still open, filled with leaf or nested starts, and closed
// with end; an element closed with no content is written <Tag/> like
// etree does.
type xmlWriter struct {
	b       []byte
	depth   int  // nesting of the element being filled
	pending bool // the innermost start tag still lacks its '>'
	flat    bool // no line breaks or indentation
}

// slot is where the current depth's tag strings are in an xmlTag's ind and
// indClose (and an xmlChain's head and tail): flatSlot for a flat
// document, the depth for an indented one, -1 for an indented one deeper
// than tagDepths (written in pieces).
func (w *xmlWriter) slot() int {
	switch {
	case w.flat:
		return flatSlot
	case w.depth < tagDepths:
		return w.depth
	}
	return -1
}

// nlIndent is a newline and enough spaces for any pain.001 depth (≤ 12
// levels); deeper levels are written in pieces.
const nlIndent = "\n                                                                "

// header writes the XML declaration etree's CreateProcInst writes.
func (w *xmlWriter) header() {
	w.b = append(w.b, `<?xml version="1.0" encoding="UTF-8"?>`...)
}

func (w *xmlWriter) newline(depth int) {
	n := 1 + 2*depth
	if n <= len(nlIndent) {
		w.b = append(w.b, nlIndent[:n]...)
		return
	}
	w.b = append(w.b, nlIndent...)
	for n -= len(nlIndent); n > 0; n -= len(nlIndent) - 1 {
		w.b = append(w.b, nlIndent[1:min(len(nlIndent), n+1)]...)
	}
}

func (w *xmlWriter) closeStart() {
	if w.pending {
		w.b = append(w.b, '>')
		w.pending = false
	}
}

// An xmlTag is an element name with its tags written out once, also
// indented for the first levels, so writing a tag is one append.
type xmlTag struct {
	open  string // "<Name>"
	close string // "</Name>"
	// ind[d] is "\n" + 2d spaces + "<Name>"; indClose[d] the same with
	// "</Name>"; at flatSlot, the tags alone
	ind, indClose [tagDepths + 1]string
}

// tagDepths is how many indented depths tags are written out for; flatSlot
// is the slot after them, for flat documents.
const (
	tagDepths = 12
	flatSlot  = tagDepths
)

func newTag(name string) *xmlTag {
	t := &xmlTag{open: "<" + name + ">", close: "</" + name + ">"}
	for d := range tagDepths {
		t.ind[d] = nlIndent[:1+2*d] + t.open
		t.indClose[d] = nlIndent[:1+2*d] + t.close
	}
	t.ind[flatSlot], t.indClose[flatSlot] = t.open, t.close
	return t
}

// start opens <tag (on its own indented line in an indented document).
func (w *xmlWriter) start(t *xmlTag) {
	w.closeStart()
	if i := w.slot(); i >= 0 {
		s := t.ind[i]
		w.b = append(w.b, s[:len(s)-1]...)
	} else {
		w.newline(w.depth)
		w.b = append(w.b, t.open[:len(t.open)-1]...)
	}
	w.pending = true
	w.depth++
}

// attr adds key="value" to the start tag just opened.
func (w *xmlWriter) attr(key, value string) {
	w.b = append(w.b, ' ')
	w.b = append(w.b, key...)
	w.b = append(w.b, '=', '"')
	w.b = appendEscaped(w.b, value)
	w.b = append(w.b, '"')
}

// end closes the innermost element.
func (w *xmlWriter) end(t *xmlTag) {
	w.depth--
	if w.pending {
		w.b = append(w.b, '/', '>')
		w.pending = false
		return
	}
	if i := w.slot(); i >= 0 {
		w.b = append(w.b, t.indClose[i]...)
		return
	}
	w.newline(w.depth)
	w.b = append(w.b, t.close...)
}

// text writes the text content of the element just opened and closes it:
// <tag attrs>text</tag> (etree's SetText on a childless element).
func (w *xmlWriter) text(t *xmlTag, s string) {
	w.closeStart()
	w.b = appendEscaped(w.b, s)
	w.b = append(w.b, t.close...)
	w.depth--
}

// leaf writes <tag>text</tag> on its own line unless text is empty (like
// addText).
func (w *xmlWriter) leaf(t *xmlTag, s string) {
	if s == "" {
		return
	}
	w.leafOpen(t)
	w.b = appendEscaped(w.b, s)
	w.b = append(w.b, t.close...)
}

// leafOpen starts a leaf element (on its own line in an indented
// document): <tag>.
func (w *xmlWriter) leafOpen(t *xmlTag) {
	w.closeStart()
	if i := w.slot(); i >= 0 {
		w.b = append(w.b, t.ind[i]...)
	} else {
		w.newline(w.depth)
		w.b = append(w.b, t.open...)
	}
}

// leafASCII is leaf for text validated to hold nothing to escape (IBANs,
// BICs, amounts, dates, codes: [A-Za-z0-9.:+-] only), written as it is.
// It must never get free text: that goes through leaf.
func (w *xmlWriter) leafASCII(t *xmlTag, s string) {
	if s == "" {
		return
	}
	w.leafOpen(t)
	w.b = append(w.b, s...)
	w.b = append(w.b, t.close...)
}

// An xmlChain is nested elements with one text at the bottom,
// <A><B><C>text</C></B></A>, written out once per depth: writing one is
// three appends instead of a dozen. head and tail are indexed like an
// xmlTag's ind.
type xmlChain struct {
	n          int // elements in the chain
	head, tail [tagDepths + 1]string
	tags       []*xmlTag
}

func newChain(tags ...*xmlTag) *xmlChain {
	c := &xmlChain{n: len(tags), tags: tags}
	for d := 0; d+len(tags) <= tagDepths; d++ {
		for i, t := range tags {
			c.head[d] += t.ind[d+i]
		}
		last := len(tags) - 1
		c.tail[d] = tags[last].close
		for i := last - 1; i >= 0; i-- {
			c.tail[d] += tags[i].indClose[d+i]
		}
	}
	for i, t := range tags {
		c.head[flatSlot] += t.open
		c.tail[flatSlot] += tags[len(tags)-1-i].close
	}
	return c
}

// chain writes c with text s, escaped unless ascii (see leafASCII). An
// empty s writes what etree writes for an empty innermost text: the
// enclosing elements, empty.
func (w *xmlWriter) chain(c *xmlChain, s string, ascii bool) {
	d := w.slot()
	if s == "" || !w.flat && w.depth+c.n > tagDepths {
		for _, t := range c.tags[:c.n-1] {
			w.start(t)
		}
		if ascii {
			w.leafASCII(c.tags[c.n-1], s)
		} else {
			w.leaf(c.tags[c.n-1], s)
		}
		for i := c.n - 2; i >= 0; i-- {
			w.end(c.tags[i])
		}
		return
	}
	w.closeStart()
	w.b = append(w.b, c.head[d]...)
	if ascii {
		w.b = append(w.b, s...)
	} else {
		w.b = appendEscaped(w.b, s)
	}
	w.b = append(w.b, c.tail[d]...)
}

// finish ends the document like etree does: an indented one with a newline
// after the root, a flat one right after it.
func (w *xmlWriter) finish() {
	if !w.flat {
		w.b = append(w.b, '\n')
	}
}

// appendEscaped appends s escaped as etree's escapeString does in its
// normal mode (text and attribute values alike): & < > ' " become entity
// references; tab, LF and CR stay; a character XML 1.0 does not allow, or
// a byte that is not UTF-8, becomes U+FFFD.
func appendEscaped(b []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); {
		// Skip plain ASCII and two-byte characters (U+0080-U+07FF: all
		// allowed; Latvian letters are among them) quickly: most text is.
		for i < len(s) {
			if c := s[i]; plainASCII[c] {
				i++
			} else if c >= 0xC2 && c <= 0xDF && i+1 < len(s) && s[i+1]&0xC0 == 0x80 {
				i += 2
			} else {
				break
			}
		}
		if i == len(s) {
			break
		}
		c := s[i]
		var esc string
		width := 1
		if c < utf8.RuneSelf {
			switch c {
			case '&':
				esc = "&amp;"
			case '<':
				esc = "&lt;"
			case '>':
				esc = "&gt;"
			case '\'':
				esc = "&apos;"
			case '"':
				esc = "&quot;"
			default:
				if c >= 0x20 || c == '\t' || c == '\n' || c == '\r' {
					i++
					continue
				}
				esc = "\uFFFD"
			}
		} else {
			var r rune
			r, width = utf8.DecodeRuneInString(s[i:])
			if (r != utf8.RuneError || width > 1) && inXMLCharRange(r) {
				i += width
				continue
			}
			esc = "\uFFFD"
		}
		b = append(b, s[last:i]...)
		b = append(b, esc...)
		i += width
		last = i
	}
	return append(b, s[last:]...)
}

// plainASCII marks the bytes appendEscaped copies as they are.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	for _, c := range "&<>'\"" {
		t[c] = false
	}
	t['\t'], t['\n'], t['\r'] = true, true, true
	return t
}()

// inXMLCharRange is the XML 1.0 Char production (etree's isInCharacterRange).
func inXMLCharRange(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
