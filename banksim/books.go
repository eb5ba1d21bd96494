package banksim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
)

// The bank's books on disk. A long run books millions of transactions; what
// only a status report or a statement reads — a file's transaction details
// and an entry's texts — is written once to an unlinked temporary file and
// read back when asked for, so that the bank's memory per booked
// transaction stays small (BenchmarkLedgerHeap). Amounts, times and
// AcctSvcrRef numbers, which balances and checks add up, stay in memory.
//
// Writing is an optimisation, never a failure path: when the temporary
// file cannot be created, or a write to it fails, new records stay in
// memory and the bank works as before; records written earlier are still
// read from the file.

// spill is the append-only temporary file.
type spill struct {
	f        *os.File
	end      int64
	unlinked bool
	// full is set by the first failed write: nothing more is written,
	// and what was written stays readable.
	full bool
}

// newSpill creates the temporary file and unlinks it at once where the
// system allows, so nothing is left behind however the process ends;
// elsewhere close removes it.
func newSpill() (*spill, error) {
	f, err := os.CreateTemp("", "banksim-books-*")
	if err != nil {
		return nil, err
	}
	return &spill{f: f, unlinked: os.Remove(f.Name()) == nil}, nil
}

// put appends data and returns where it lies.
func (s *spill) put(data []byte) (int64, error) {
	off := s.end
	if _, err := s.f.WriteAt(data, off); err != nil {
		return 0, err
	}
	s.end += int64(len(data))
	return off, nil
}

func (s *spill) close() {
	s.f.Close()
	if !s.unlinked {
		os.Remove(s.f.Name())
	}
}

// A record is a string kept in memory or, once spilled, where it lies on
// disk. The zero record is the empty string.
type record struct {
	mem string
	off int64
	n   uint32
	// onDisk is set once the string has been written.
	onDisk bool
}

// errBooks says a spilled record could not be read back.
var errBooks = errors.New("banksim: books")

// load returns r's string. The caller holds b.mu.
func (b *Bank) load(r record) (string, error) {
	if !r.onDisk {
		return r.mem, nil
	}
	if b.spill == nil {
		return "", fmt.Errorf("%w: closed", errBooks)
	}
	buf := make([]byte, r.n)
	if _, err := b.spill.f.ReadAt(buf, r.off); err != nil {
		return "", fmt.Errorf("%w: reading %d bytes at %d: %v", errBooks, r.n, r.off, err)
	}
	return string(buf), nil
}

// spillFile writes the transaction details of f and the texts of the
// entries booked from it (es) in one write, then lets go of them in
// memory. On a write error they stay in memory. The caller holds b.mu.
func (b *Bank) spillFile(f *file, es []*entry) {
	if b.spill == nil || b.spill.full {
		return
	}
	buf := appendBlocks(nil, f.blocks)
	details := len(buf)
	for _, e := range es {
		buf = append(buf, e.texts.mem...)
	}
	off, err := b.spill.put(buf)
	if err != nil {
		b.log.Warn("new books kept in memory: writing them to disk failed", "error", err)
		b.spill.full = true
		return
	}
	f.details = record{off: off, n: uint32(details), onDisk: true}
	f.blocks = nil
	pos := off + int64(details)
	for _, e := range es {
		n := len(e.texts.mem)
		e.texts = record{off: pos, n: uint32(n), onDisk: true}
		pos += int64(n)
	}
}

// blocks returns f's transaction details, from memory or from disk. The
// caller holds b.mu.
func (b *Bank) blocks(f *file) ([]*block, error) {
	if !f.details.onDisk {
		return f.blocks, nil
	}
	s, err := b.load(f.details)
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", f.msgID, err)
	}
	bs, err := readBlocks(s)
	if err != nil {
		return nil, fmt.Errorf("%w: file %s: %v", errBooks, f.msgID, err)
	}
	return bs, nil
}

// appendBlocks encodes a file's blocks: per block its id, NbOfTxs, CtrlSum
// and transaction count, per transaction its EndToEndId, amount, currency,
// AcctSvcrRef number (0: rejected) and, when rejected, the reason.
func appendBlocks(buf []byte, bs []*block) []byte {
	str := func(s string) {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	buf = binary.AppendUvarint(buf, uint64(len(bs)))
	for _, bl := range bs {
		str(bl.id)
		str(bl.nbOfTxs)
		str(bl.ctrlSum)
		buf = binary.AppendUvarint(buf, uint64(len(bl.txs)))
		for _, t := range bl.txs {
			str(t.e2e)
			str(t.amount)
			str(t.ccy)
			buf = binary.AppendUvarint(buf, uint64(t.seq))
			if t.seq == 0 {
				str(t.rejected.code)
				str(t.rejected.info)
			}
		}
	}
	return buf
}

// readBlocks decodes what appendBlocks wrote.
func readBlocks(s string) ([]*block, error) {
	r := recordReader{s: s}
	nb := r.count()
	out := make([]*block, 0, nb)
	for range nb {
		if r.bad {
			break
		}
		bl := &block{id: r.str(), nbOfTxs: r.str(), ctrlSum: r.str()}
		nt := r.count()
		bl.txs = make([]tx, 0, nt)
		for range nt {
			if r.bad {
				break
			}
			t := tx{e2e: r.str(), amount: r.str(), ccy: r.str()}
			seq := r.num()
			if seq > 1<<32-1 {
				r.bad = true
			}
			t.seq = uint32(seq)
			if t.seq == 0 {
				t.rejected = &reason{r.str(), r.str()}
			}
			bl.txs = append(bl.txs, t)
		}
		out = append(out, bl)
	}
	switch {
	case r.bad:
		return nil, errors.New("truncated record")
	case r.s != "":
		return nil, errors.New("trailing bytes in record")
	}
	return out, nil
}

// recordReader reads the uvarints and strings of a record; once one is
// cut short, bad is set and every later read returns zero.
type recordReader struct {
	s   string
	bad bool
}

func (r *recordReader) num() uint64 {
	v, n := binary.Uvarint([]byte(r.s[:min(len(r.s), binary.MaxVarintLen64)]))
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.s = r.s[n:]
	return v
}

// count reads a number of items that follow, each at least one byte.
func (r *recordReader) count() int {
	n := r.num()
	if n > uint64(len(r.s)) {
		r.bad = true
		return 0
	}
	return int(n)
}

func (r *recordReader) str() string {
	n := r.num()
	if r.bad || n > uint64(len(r.s)) {
		r.bad = true
		return ""
	}
	v := r.s[:n]
	r.s = r.s[n:]
	return v
}
