package bank

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/isogate/isogate/internal/samples"
	"github.com/isogate/isogate/xmlcodec"
)

func TestErrorClasses(t *testing.T) {
	sentinels := []error{ErrTransient, ErrPermanent, ErrOutcomeUnknown, ErrDuplicate, ErrUnknownToBank}
	for c := Transient; c <= UnknownToBank; c++ {
		cause := errors.New("cause")
		err := fmt.Errorf("wrapped: %w", &Error{Op: OpSubmit, MsgID: "M1", Class: c, Status: 503, Err: cause})
		for _, s := range sentinels {
			if got, want := errors.Is(err, s), s == c.Err(); got != want {
				t.Errorf("errors.Is(%v error, %v) = %v, want %v", c, s, got, want)
			}
		}
		if !errors.Is(err, cause) {
			t.Errorf("%v error does not unwrap to its cause", c)
		}
		var be *Error
		if !errors.As(err, &be) || be.Status != 503 || be.MsgID != "M1" {
			t.Errorf("errors.As(%v) = %+v", err, be)
		}
		if ClassOf(err) != c {
			t.Errorf("ClassOf = %v, want %v", ClassOf(err), c)
		}
	}
	if ClassOf(errors.New("x")) != 0 {
		t.Error("ClassOf(plain error) != 0")
	}
	e := &Error{Op: OpStatus, MsgID: "M2", Class: UnknownToBank, Status: 404, Err: errors.New("bank answered Not Found")}
	if got, want := e.Error(), "bank: status M2: unknown to bank: HTTP 404: bank answered Not Found"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestHeaderFields(t *testing.T) {
	camt060, err := os.ReadFile(filepath.Join("..", "xmlcodec", "testdata", "camt060_ekase.golden.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if got := RequestMsgID(camt060); got != "REQ-1" {
		t.Errorf("RequestMsgID(camt.060) = %q, want REQ-1", got)
	}
	if got := OriginalQueryMsgID(camt060); got != "" {
		t.Errorf("OriginalQueryMsgID(camt.060) = %q, want empty", got)
	}
	if _, _, err := CheckDocument(camt060, "camt.060"); err != nil {
		t.Errorf("CheckDocument(camt.060) = %v", err)
	}
	if _, _, err := CheckDocument(camt060[:len(camt060)-20], "camt.060"); !errors.Is(err, ErrMalformed) {
		t.Errorf("CheckDocument(truncated camt.060) = %v, want ErrMalformed", err)
	}
	if _, _, err := CheckDocument(camt060, "pain.002"); !errors.Is(err, ErrMalformed) {
		t.Errorf("CheckDocument(camt.060 as pain.002) = %v, want ErrMalformed", err)
	}
	for _, bad := range []string{"", "not xml", "<Document><X>"} {
		if got := RequestMsgID([]byte(bad)); got != "" {
			t.Errorf("RequestMsgID(%q) = %q", bad, got)
		}
	}
}

// TestCheckStatusDocument: over the pain.002 samples, the status records
// come back — the ones the decoder yields — with the same OrgnlMsgId as
// CheckDocument finds.
func TestCheckStatusDocument(t *testing.T) {
	var docs []string
	samples.Seeds(t, "pain002", false, func(name string, _ []byte) { docs = append(docs, name) })
	if len(docs) == 0 {
		t.Fatal("no pain.002 samples")
	}
	samples.Seeds(t, "pain002", false, func(name string, data []byte) {
		info, orig, statuses, err := CheckStatusDocument(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_, orig2, err := CheckDocument(data, "pain.002")
		if err != nil || orig2 != orig || info.Family != "pain.002" {
			t.Fatalf("%s: CheckDocument %q, %v; CheckStatusDocument %q", name, orig2, err, orig)
		}
		var want []*xmlcodec.Status
		d := xmlcodec.NewDecoder(bytes.NewReader(data), xmlcodec.Limits{})
		if _, err := d.Message(); err != nil {
			t.Fatal(err)
		}
		for {
			rec, err := d.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if s, ok := rec.(*xmlcodec.Status); ok {
				want = append(want, s)
			}
		}
		if len(want) == 0 || !reflect.DeepEqual(statuses, want) {
			t.Errorf("%s: %d statuses, want the decoder's %d", name, len(statuses), len(want))
		}
	})
}
