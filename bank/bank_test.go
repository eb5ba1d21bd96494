package bank

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
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
