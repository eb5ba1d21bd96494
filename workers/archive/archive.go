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

// Archive stores and reads files.
type Archive struct{ obs jetstream.ObjectStore }

// Open binds the provisioned object store.
func Open(ctx context.Context, js jetstream.JetStream) (*Archive, error) {
	obs, err := js.ObjectStore(ctx, messages.ObjectStoreArchive)
	if err != nil {
		return nil, fmt.Errorf("archive: object store %q: %w (is the gateway provisioned? run isogate serve)", messages.ObjectStoreArchive, err)
	}
	return &Archive{obs: obs}, nil
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
	name, sum := NameOf(data)
	obj := Object{Name: name, SHA256: sum, Size: int64(len(data))}
	info, err := a.obs.GetInfo(ctx, name)
	if err == nil && !info.Deleted && info.Size == uint64(len(data)) {
		return obj, nil
	}
	if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return obj, fmt.Errorf("archive: looking up %s: %w", name, err)
	}
	m := jetstream.ObjectMeta{Name: name, Metadata: maps.Clone(meta), Opts: &jetstream.ObjectMetaOptions{ChunkSize: ChunkSize}}
	if _, err := a.obs.Put(ctx, m, bytes.NewReader(data)); err != nil {
		return obj, fmt.Errorf("archive: storing %s: %w", name, err)
	}
	return obj, nil
}

// Get returns the bytes of an object and checks they hash to its name.
func (a *Archive) Get(ctx context.Context, name string) ([]byte, error) {
	data, err := a.obs.GetBytes(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("archive: reading %s: %w", name, err)
	}
	if got, _ := NameOf(data); got != name {
		return nil, fmt.Errorf("%w: %s", ErrCorrupt, name)
	}
	return data, nil
}
