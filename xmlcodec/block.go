package xmlcodec

import (
	"bytes"
	"encoding/xml"
	"fmt"
)

// A block is a small element tree read from the token stream: the
// children of one Ntry (its NtryDtls excepted) or one TxDtls. It gives the
// same view as the etree subtrees the decoder builds elsewhere (local
// names, attributes without namespaces, the trimmed text of childless
// elements only), but its nodes live in one slice and its text in one byte
// arena, both reused from block to block: beyond encoding/xml's own
// allocations per token, reading an entry allocates only what it returns.
type block struct {
	nodes []bnode
	buf   []byte
	kept  int // buf[:kept] belongs to finished childless elements
	// intern holds the short strings returned so far (see str).
	intern map[string]string
}

// A bnode is one element of a block; node references are indexes into
// block.nodes, and -1 is "none".
type bnode struct {
	name              string
	attrs             []xml.Attr
	first, last, next int32
	t0, t1            int32 // trimmed text span in block.buf (childless elements)
}

// reset empties b for the next block, letting go of buffers a huge block
// grew, so one hostile entry does not pin its memory for the whole file.
func (b *block) reset() {
	const keepNodes, keepText = 4096, 1 << 20
	if cap(b.nodes) > keepNodes {
		b.nodes = nil
	}
	if cap(b.buf) > keepText {
		b.buf = nil
	}
	b.nodes = b.nodes[:0]
	b.buf = b.buf[:0]
	b.kept = 0
}

// add appends an element under parent (-1: a root) and returns it.
func (b *block) add(parent int32, t xml.StartElement) int32 {
	n := int32(len(b.nodes))
	b.nodes = append(b.nodes, bnode{name: t.Name.Local, attrs: t.Attr, first: -1, last: -1, next: -1})
	if parent >= 0 {
		p := &b.nodes[parent]
		if p.last >= 0 {
			b.nodes[p.last].next = n
		} else {
			p.first = n
		}
		p.last = n
	}
	return n
}

// readBlock reads the element whose start tag t was just read into b, under
// parent, drawing its elements from budget.
func (d *Decoder) readBlock(b *block, parent int32, t xml.StartElement, budget *int) (int32, error) {
	if *budget--; *budget < 0 {
		return -1, fmt.Errorf("%w: more than %d", ErrTooManyElements, d.lim.MaxElements)
	}
	root := b.add(parent, t)
	b.buf = b.buf[:b.kept]
	var stackBuf [24]int32
	stack := append(stackBuf[:0], root)
	for {
		tok, err := d.token()
		if err != nil {
			return -1, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if *budget--; *budget < 0 {
				return -1, fmt.Errorf("%w: more than %d", ErrTooManyElements, d.lim.MaxElements)
			}
			stack = append(stack, b.add(stack[len(stack)-1], t))
			b.buf = b.buf[:b.kept] // text before a child is not kept
		case xml.CharData:
			b.buf = append(b.buf, t...)
		case xml.EndElement:
			top := &b.nodes[stack[len(stack)-1]]
			if top.first < 0 {
				// A childless element: its text, trimmed like
				// strings.TrimSpace (TrimSpace returns a subslice).
				seg := b.buf[b.kept:]
				if tr := bytes.TrimSpace(seg); len(tr) > 0 {
					off := b.kept + cap(seg) - cap(tr)
					top.t0, top.t1 = int32(off), int32(off+len(tr))
					b.kept = off + len(tr)
				}
			}
			b.buf = b.buf[:b.kept]
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return root, nil
			}
		}
	}
}

// child walks a chain of child element names from n (-1 when absent).
func (b *block) child(n int32, names ...string) int32 {
	for _, name := range names {
		if n < 0 {
			return -1
		}
		c := b.nodes[n].first
		for c >= 0 && b.nodes[c].name != name {
			c = b.nodes[c].next
		}
		n = c
	}
	return n
}

// ownText returns the text of n ("" if absent or not childless).
func (b *block) ownText(n int32) string {
	if n < 0 {
		return ""
	}
	e := &b.nodes[n]
	if e.t1 <= e.t0 {
		return ""
	}
	return b.str(b.buf[e.t0:e.t1])
}

// text returns the text at the chain of child names ("" if absent).
func (b *block) text(n int32, names ...string) string {
	return b.ownText(b.child(n, names...))
}

// attr returns the value of n's unprefixed attribute key (the last one,
// as etree keeps it).
func (b *block) attr(n int32, key string) string {
	v := ""
	for _, a := range b.nodes[n].attrs {
		if a.Name.Space == "" && a.Name.Local == key {
			v = a.Value
		}
	}
	return v
}

// each calls f for every child of n called name, in order.
func (b *block) each(n int32, name string, f func(c int32)) {
	if n < 0 {
		return
	}
	for c := b.nodes[n].first; c >= 0; c = b.nodes[c].next {
		if b.nodes[c].name == name {
			f(c)
		}
	}
}

const (
	internMaxLen     = 16
	internMaxEntries = 4096
)

// str returns string(s), shared for a short string seen before: codes,
// currencies, dates and BICs repeat through a statement, so this saves an
// allocation per field. The table is the block's own and bounded.
func (b *block) str(s []byte) string {
	if len(s) > internMaxLen {
		return string(s)
	}
	if v, ok := b.intern[string(s)]; ok {
		return v
	}
	v := string(s)
	if b.intern == nil {
		b.intern = make(map[string]string)
	}
	if len(b.intern) < internMaxEntries {
		b.intern[v] = v
	}
	return v
}
