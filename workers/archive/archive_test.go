package archive

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/isogate/isogate/internal/natstest"
	"github.com/isogate/isogate/internal/provision"
)

// provisioned starts a server, provisions it and opens the archive.
func provisioned(t *testing.T) (*natstest.Server, *Archive) {
	t.Helper()
	srv := natstest.Start(t)
	_, js := srv.Connect()
	if _, err := provision.Apply(t.Context(), js, provision.Options{Replicas: 1, DuplicateWindow: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	a, err := Open(t.Context(), js)
	if err != nil {
		t.Fatal(err)
	}
	return srv, a
}

func TestPutIsContentAddressedAndIdempotent(t *testing.T) {
	srv, a := provisioned(t)
	ctx := t.Context()
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
	_, js := srv.Connect()
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

// TestRecentPain001 shows where Get's bytes come from by deleting objects
// from the store behind the archive's back: a file PutAndKeep just stored
// is still read (from memory), files stored with Put and files pushed out
// of the bounded memory are not, and bytes a caller changed in memory are
// read again from the store.
func TestRecentPain001(t *testing.T) {
	_, a := provisioned(t)
	ctx := t.Context()
	if a.recent.max != RecentBytes {
		t.Fatalf("Open keeps %d bytes, want RecentBytes (%d)", a.recent.max, RecentBytes)
	}
	a.recent.max = 3000 // two of the files below, not three
	file := func(n int) []byte {
		return bytes.Repeat([]byte(fmt.Sprintf("<Ustrd>Rēķins %d</Ustrd>", n)), 1200/20)
	}
	put := func(data []byte, kind string) Object {
		t.Helper()
		meta, store := map[string]string{MetaKind: kind}, a.PutAndKeep
		if kind == "pain.002" {
			store = a.Put // the status poller's archived answers are not read back
		}
		obj, err := store(ctx, data, meta)
		if err != nil {
			t.Fatal(err)
		}
		return obj
	}
	p1, p2, p3 := put(file(1), "pain.001.001.03"), put(file(2), "pain.001"), put(file(3), "pain.001.001.09")
	other := put(file(4), "pain.002")
	// p1 is read once from the store before it goes, and again after: the
	// store answers both.
	if got, err := a.Get(ctx, p1.Name); err != nil || !bytes.Equal(got, file(1)) {
		t.Fatalf("Get(p1) = %d bytes, %v", len(got), err)
	}
	for _, o := range []Object{p1, p2, p3, other} {
		if err := a.obs.Delete(ctx, o.Name); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		obj  Object
		want []byte // nil: not in memory, so the deleted object is missing
	}{
		{"first pain.001, pushed out by the third", p1, nil},
		{"second pain.001", p2, file(2)},
		{"third pain.001", p3, file(3)},
		{"pain.002", other, nil},
	} {
		got, err := a.Get(ctx, c.obj.Name)
		if c.want == nil {
			if err == nil {
				t.Errorf("%s: Get after the store's delete = %d bytes, want an error", c.name, len(got))
			}
			continue
		}
		if err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("%s: Get after the store's delete = %d bytes, %v; want it from memory", c.name, len(got), err)
		}
	}

	// A caller that changes the bytes it was given does not change what
	// the next caller reads: the hash check sends Get to the store.
	p5 := put(file(5), "pain.001")
	got, err := a.Get(ctx, p5.Name)
	if err != nil {
		t.Fatal(err)
	}
	got[0] = 'X'
	again, err := a.Get(ctx, p5.Name)
	if err != nil || !bytes.Equal(again, file(5)) {
		t.Errorf("Get after a caller changed the kept bytes = %.20q, %v; want the stored file", again, err)
	}
	if _, ok := a.recent.get(p5.Name); ok {
		t.Error("the changed bytes are still kept")
	}
	if a.recent.size > a.recent.max || a.recent.size != len(a.recent.files)*cap(file(1)) {
		t.Errorf("kept %d bytes in %d files, bound %d", a.recent.size, len(a.recent.files), a.recent.max)
	}
	// A kept slice holds its whole array: it counts by its capacity (the
	// encoder's files have room to spare).
	roomy := append(make([]byte, 0, a.recent.max), "<Document/>"...)
	put(roomy, "pain.001")
	if a.recent.size != a.recent.max || len(a.recent.files) != 1 {
		t.Errorf("after a %d-byte file in a %d-byte slice: kept %d bytes in %d files, want %d in 1",
			len(roomy), cap(roomy), a.recent.size, len(a.recent.files), a.recent.max)
	}
}
