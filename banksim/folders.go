package banksim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/isogate/isogate/xmlcodec"
)

// skipName reports whether a folder entry is not (yet) a complete file:
// hidden names and the temporary names writers use before renaming.
func skipName(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".tmp") || strings.HasSuffix(name, ".part") ||
		strings.HasSuffix(name, "~")
}

// safeName keeps letters, digits, '.', '-' and '_' of s for a file name.
func safeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return strings.TrimLeft(string(b), ".")
}

// ProcessFolders runs one pass of the host-to-host front end. It takes
// every complete file in outbox (the gateway's outbox; names starting
// with '.' or ending in .tmp, .part or ~ are skipped), in name order:
//
//   - a camt.060 is answered with the camt document in inbox as
//     NAME.camt.05x.xml (nothing when there is nothing to report, an
//     NAME.error.txt when the request is refused);
//   - anything else is processed as a pain.001 upload, and its pain.002
//     written to inbox as MSGID.STATUS.pain.002.xml. The same bytes sent
//     again are answered with the original's current pain.002 (nothing is
//     booked twice); other bytes under a known MsgId get
//     MSGID.DUPL-N.pain.002.xml (RJCT DUPL); a file the bank does not
//     record (not well-formed, bad signature), NAME.RJCT.pain.002.xml.
//
// Each processed file is then removed from outbox. The pass also writes a
// new pain.002 for every file received through folders whose status moved
// on since the last pass. Every write is atomic (a hidden temporary file
// renamed into place). It returns the number of outbox files processed.
func (b *Bank) ProcessFolders(outbox, inbox string) (int, error) {
	ents, err := os.ReadDir(outbox)
	if err != nil {
		return 0, fmt.Errorf("banksim: reading outbox: %w", err)
	}
	n := 0
	var errs []error
	for _, e := range ents {
		if !e.Type().IsRegular() || skipName(e.Name()) {
			continue
		}
		path := filepath.Join(outbox, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("banksim: reading %s: %w", path, err))
			continue
		}
		if err := b.processFile(e.Name(), data, inbox); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.Remove(path); err != nil {
			errs = append(errs, fmt.Errorf("banksim: removing %s: %w", path, err))
		}
		n++
	}
	if err := b.writeStatusUpdates(inbox); err != nil {
		errs = append(errs, err)
	}
	return n, errors.Join(errs...)
}

func (b *Bank) processFile(name string, data []byte, inbox string) error {
	info, _ := xmlcodec.NewDecoder(bytes.NewReader(data), xmlcodec.Limits{MaxBytes: maxUpload}).Message()
	if info.Family == "camt.060" {
		doc, err := b.report(data)
		switch {
		case err != nil:
			return writeAtomic(filepath.Join(inbox, safeName(name)+".error.txt"), []byte(err.Error()+"\n"), 0o644)
		case doc == nil:
			return nil
		}
		rinfo, _ := xmlcodec.NewDecoder(bytes.NewReader(doc), xmlcodec.Limits{}).Message()
		return writeAtomic(filepath.Join(inbox, safeName(name)+"."+rinfo.Family+".xml"), doc, 0o644)
	}
	res := b.upload(data, nil)
	var out string
	switch res.code {
	case 202:
		b.mu.Lock()
		b.folderFiles = append(b.folderFiles, res.msgID)
		b.mu.Unlock()
		return nil // written by writeStatusUpdates
	case 409:
		b.mu.Lock()
		f := b.files[res.msgID]
		if sum := sha256.Sum256(data); f != nil && f.sha == hex.EncodeToString(sum[:]) {
			// The same bytes again (a gateway re-send): answered with the
			// original's current status, so that no RJCT DUPL for its own
			// MsgId lands next to it. Nothing is booked again.
			now := b.cfg.Now()
			key := f.folderKey(now)
			if b.folderStage == nil {
				b.folderStage = map[string]string{}
			}
			b.folderStage[f.msgID] = key
			doc, err := b.pain002(f, now)
			b.mu.Unlock()
			if err != nil {
				return err
			}
			return writeAtomic(filepath.Join(inbox, fmt.Sprintf("%s.%s.pain.002.xml", safeName(f.msgID), key)), doc, 0o644)
		}
		b.folderDups++
		k := b.folderDups
		b.mu.Unlock()
		out = fmt.Sprintf("%s.DUPL-%d.pain.002.xml", safeName(res.msgID), k)
	default:
		b.mu.Lock()
		_, recorded := b.files[res.msgID]
		b.mu.Unlock()
		if recorded {
			out = safeName(res.msgID) + ".RJCT.pain.002.xml"
		} else {
			out = safeName(name) + ".RJCT.pain.002.xml"
		}
	}
	return writeAtomic(filepath.Join(inbox, out), res.pain002, 0o644)
}

// writeStatusUpdates writes the pain.002 of each folder-received file whose
// status changed since it was last written, named by its stage: RCVD,
// ACTC, ACSP, PART (processed, mixed), RJCT (all rejected), ACSC, or
// PART-ACSC (settled, mixed).
func (b *Bank) writeStatusUpdates(inbox string) error {
	type out struct {
		name string
		doc  []byte
	}
	var outs []out
	var errs []error
	b.mu.Lock()
	now := b.cfg.Now()
	if b.folderStage == nil {
		b.folderStage = map[string]string{}
	}
	for _, id := range b.folderFiles {
		f := b.files[id]
		key := f.folderKey(now)
		if b.folderStage[id] == key {
			continue
		}
		doc, err := b.pain002(f, now)
		if err != nil {
			errs = append(errs, err) // tried again on the next pass
			continue
		}
		b.folderStage[id] = key
		outs = append(outs, out{fmt.Sprintf("%s.%s.pain.002.xml", safeName(id), key), doc})
	}
	b.folderFiles = slices.DeleteFunc(b.folderFiles, func(id string) bool {
		f := b.files[id]
		return !now.Before(f.settleAt) && b.folderStage[id] == f.folderKey(now) // final and written: nothing more to write
	})
	b.mu.Unlock()
	for _, o := range outs {
		if err := writeAtomic(filepath.Join(inbox, o.name), o.doc, 0o644); err != nil {
			errs = append(errs, fmt.Errorf("banksim: writing %s: %w", o.name, err))
		}
	}
	return errors.Join(errs...)
}

// folderKey names f's stage at now for the folders front end.
func (f *file) folderKey(now time.Time) string {
	key, _, _ := f.stage(now)
	if key == "PART" && !now.Before(f.settleAt) {
		key = "PART-ACSC"
	}
	return key
}
