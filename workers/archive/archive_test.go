package archive

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/isogate/isogate/internal/natstest"
	"github.com/isogate/isogate/internal/provision"
)

func TestPutIsContentAddressedAndIdempotent(t *testing.T) {
	srv := natstest.Start(t)
	_, js := srv.Connect()
	ctx := t.Context()
	if _, err := provision.Apply(ctx, js, provision.Options{Replicas: 1, DuplicateWindow: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	a, err := Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	doc := []byte(`<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"/>`)
	first, err := a.Put(ctx, doc, map[string]string{MetaKind: "pain.001", MetaBatchID: "B1"})
	if err != nil {
		t.Fatal(err)
	}
	if first.Name != "sha256/"+first.SHA256 || first.Size != int64(len(doc)) {
		t.Errorf("Put = %+v", first)
	}
	again, err := a.Put(ctx, doc, nil)
	if err != nil || again != first {
		t.Errorf("second Put = %+v, %v, want %+v", again, err, first)
	}
	srv.Restart()
	_, js = srv.Connect()
	a, err = Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.Get(ctx, first.Name)
	if err != nil || string(got) != string(doc) {
		t.Fatalf("Get after restart = %q, %v", got, err)
	}
	info, err := a.obs.GetInfo(ctx, first.Name)
	if err != nil || info.Metadata[MetaBatchID] != "B1" {
		t.Errorf("metadata = %v, %v", info, err)
	}
	// A file larger than a chunk is stored in ChunkSize pieces and read
	// back whole.
	big := bytes.Repeat([]byte("<Ustrd>Rēķins</Ustrd>"), 5*ChunkSize/20)
	obj, err := a.Put(ctx, big, map[string]string{MetaKind: "pain.001"})
	if err != nil {
		t.Fatal(err)
	}
	bigInfo, err := a.obs.GetInfo(ctx, obj.Name)
	if err != nil {
		t.Fatal(err)
	}
	if want := (len(big) + ChunkSize - 1) / ChunkSize; int(bigInfo.Chunks) != want || want < 5 {
		t.Errorf("%d bytes stored in %d chunks, want %d", len(big), bigInfo.Chunks, want)
	}
	if got, err := a.Get(ctx, obj.Name); err != nil || !bytes.Equal(got, big) {
		t.Errorf("Get of the chunked object: %d bytes, %v", len(got), err)
	}
	if _, err := a.Get(ctx, "sha256/0000"); err == nil {
		t.Error("Get of a missing object succeeded")
	}
	// An object whose bytes do not hash to its name is reported.
	if _, err := a.obs.PutBytes(ctx, "sha256/"+first.SHA256[:10], []byte("other")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(ctx, "sha256/"+first.SHA256[:10]); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Get of a corrupt object = %v, want ErrCorrupt", err)
	}
}
