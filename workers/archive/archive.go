// Package archive keeps every XML file the gateway sends or receives in the
// JetStream object store "archive", content-addressed: an object's name is
// the SHA-256 of its bytes, so storing the same file twice stores it once,
// and a re-send can be proved byte-identical by its name.
package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/messages"
)

// Object identifies one archived file.
type Object struct {
	Name   string // "sha256/<hex>"
	SHA256 string // hex
	Size   int64
}

// Metadata keys that link an archived file to what it belongs to.
const (
	MetaKind    = "kind"     // pain.001, pain.002, camt.053, camt.060, ...
	MetaBatchID = "batch_id" // pain.001 MsgId the file belongs to
	MetaAccount = "account"  // statement account
	MetaMsgID   = "msg_id"   // the document's own MsgId
)

// ChunkSize is the largest piece an archived file is stored in (the object
// store's default is 128 KiB). The NATS server keeps the buffers of the
// messages it delivers in a pool, each as large as the largest message it
// ever carried: with 128 KiB chunks a million-intent run held about
// 140 MB of them. 16 KiB chunks bound that pool at an eighth of it, for
// one more stored message per 16 KiB of XML (a 100-transaction pain.001
// is about 90 KiB). Objects stored with another chunk size read as before.
const ChunkSize = 16 << 10

// ErrCorrupt is returned by Get when stored bytes do not hash to their name.
var ErrCorrupt = errors.New("archive: stored object does not match its SHA-256")

// RecentBytes bounds the memory (the capacity of the slices) of the files
// an Archive keeps after storing them (see [Archive.PutAndKeep]).
const RecentBytes = 16 << 20

// Archive stores and reads files.
type Archive struct {
	obs    jetstream.ObjectStore
	recent recent
}

// Open binds the provisioned object store.
func Open(ctx context.Context, js jetstream.JetStream) (*Archive, error) {
	obs, err := js.ObjectStore(ctx, messages.ObjectStoreArchive)
	if err != nil {
		return nil, fmt.Errorf("archive: object store %q: %w (is the gateway provisioned? run isogate serve)", messages.ObjectStoreArchive, err)
	}
	return &Archive{obs: obs, recent: recent{max: RecentBytes}}, nil
}

// NameOf returns the object name of data.
func NameOf(data []byte) (name, sum string) {
	h := sha256.Sum256(data)
	sum = hex.EncodeToString(h[:])
	return "sha256/" + sum, sum
}

// Put stores data unless an object with its hash is already there, and
// returns where it is. It returns only after the object store has stored
// it. meta is recorded the first time the bytes are stored.
func (a *Archive) Put(ctx context.Context, data []byte, meta map[string]string) (Object, error) {
	return a.put(ctx, data, meta, false)
}

// PutAndKeep is Put for a file this process reads back moments later (a
// pain.001 the submitter uploads): once stored, data is also kept in
// memory, the last RecentBytes of such files, and Get answers from there
// without the object store's read (an object info request, a consumer
// created and deleted, the chunks). The caller must not change data
// afterwards; Get checks the hash anyway.
func (a *Archive) PutAndKeep(ctx context.Context, data []byte, meta map[string]string) (Object, error) {
	return a.put(ctx, data, meta, true)
}

func (a *Archive) put(ctx context.Context, data []byte, meta map[string]string, keep bool) (Object, error) {
	name, sum := NameOf(data)
	obj := Object{Name: name, SHA256: sum, Size: int64(len(data))}
	info, err := a.obs.GetInfo(ctx, name)
	if err == nil && !info.Deleted && info.Size == uint64(len(data)) {
		if keep {
			a.recent.add(name, data)
		}
		return obj, nil
	}
	if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return obj, fmt.Errorf("archive: looking up %s: %w", name, err)
	}
	m := jetstream.ObjectMeta{Name: name, Metadata: maps.Clone(meta), Opts: &jetstream.ObjectMetaOptions{ChunkSize: ChunkSize}}
	if _, err := a.obs.Put(ctx, m, bytes.NewReader(data)); err != nil {
		return obj, fmt.Errorf("archive: storing %s: %w", name, err)
	}
	if keep {
		a.recent.add(name, data)
	}
	return obj, nil
}

// Get returns the bytes of an object and checks they hash to its name.
// A file Put kept in memory may be returned to several callers: they must
// not change it.
func (a *Archive) Get(ctx context.Context, name string) ([]byte, error) {
	if data, ok := a.recent.get(name); ok {
		if got, _ := NameOf(data); got == name {
			return data, nil
		}
		a.recent.drop(name) // changed by a caller: read the stored bytes
	}
	data, err := a.obs.GetBytes(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("archive: reading %s: %w", name, err)
	}
	if got, _ := NameOf(data); got != name {
		return nil, fmt.Errorf("%w: %s", ErrCorrupt, name)
	}
	return data, nil
}

// recent holds the files Put kept, first in first out, slices of at most
// max bytes of capacity together: a kept slice holds its whole array.
type recent struct {
	mu    sync.Mutex
	max   int
	size  int
	files map[string][]byte
	order []string // names, oldest first
}

func (r *recent) add(name string, data []byte) {
	if cap(data) > r.max {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.files[name]; ok {
		return
	}
	if r.files == nil {
		r.files = map[string][]byte{}
	}
	for r.size+cap(data) > r.max {
		r.size -= cap(r.files[r.order[0]])
		delete(r.files, r.order[0])
		r.order = slices.Delete(r.order, 0, 1)
	}
	r.files[name] = data
	r.order = append(r.order, name)
	r.size += cap(data)
}

func (r *recent) get(name string) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	data, ok := r.files[name]
	return data, ok
}

func (r *recent) drop(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if data, ok := r.files[name]; ok {
		r.size -= cap(data)
		delete(r.files, name)
		r.order = slices.DeleteFunc(r.order, func(n string) bool { return n == name })
	}
}
