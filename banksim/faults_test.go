package banksim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"
)

// TestFaults runs each fault kind once through FailNext over HTTPS and
// checks what it does to the client and to the books.
func TestFaults(t *testing.T) {
	srv, _ := startTest(t, Config{})
	c := mtlsClient(t, srv.TLS, true)
	n := 0
	upload := func() (string, []byte) {
		n++
		id := fmt.Sprintf("FLT-%d", n)
		return id, encode(t, "ekase", id, day0, pay(id+"-E", acct1, cred("HABA0012345678910"), "1.00"))
	}
	status := func(id string) int {
		code, _, err := call(t, c, "GET", srv.URL+"/v1/payments/"+id+"/status", nil)
		if err != nil {
			t.Fatalf("status %s: %v", id, err)
		}
		return code
	}
	booked := func() int { return srv.Bank.Ledger().TransactionsBooked }

	t.Run("drop after accept books, the client gets no response", func(t *testing.T) {
		srv.Bank.FailNext(FaultDropAfterAccept, 1)
		id, file := upload()
		before := booked()
		code, body, err := call(t, c, "POST", srv.URL+"/v1/payments", file)
		if err == nil {
			t.Fatalf("got a response %d %s", code, body)
		}
		if booked() != before+1 || status(id) != 200 {
			t.Errorf("booked %d → %d, status %d; want booked and known", before, booked(), status(id))
		}
		// The gateway's in-doubt path: a re-send of the same bytes books nothing.
		mustCall(t, c, "POST", srv.URL+"/v1/payments", file, 409)
		if booked() != before+1 {
			t.Error("re-send booked again")
		}
	})
	t.Run("reset books nothing", func(t *testing.T) {
		srv.Bank.FailNext(FaultReset, 1)
		id, file := upload()
		before, received := booked(), srv.Bank.Ledger().FilesReceived
		if code, body, err := call(t, c, "POST", srv.URL+"/v1/payments", file); err == nil {
			t.Fatalf("got a response %d %s", code, body)
		}
		if booked() != before || srv.Bank.Ledger().FilesReceived != received || status(id) != 404 {
			t.Errorf("a reset upload left a trace: booked %d → %d, status %d", before, booked(), status(id))
		}
		mustCall(t, c, "POST", srv.URL+"/v1/payments", file, 202) // the retry goes through
	})
	t.Run("error is a 503 and books nothing", func(t *testing.T) {
		srv.Bank.FailNext(FaultError, 1)
		id, file := upload()
		mustCall(t, c, "POST", srv.URL+"/v1/payments", file, 503)
		if status(id) != 404 {
			t.Error("a 503 upload is known to the bank")
		}
	})
	t.Run("timeout holds until the client gives up", func(t *testing.T) {
		srv.Bank.FailNext(FaultTimeout, 1)
		id, file := upload()
		short := mtlsClient(t, srv.TLS, true)
		short.Timeout = 300 * time.Millisecond
		start := time.Now()
		_, _, err := call(t, short, "POST", srv.URL+"/v1/payments", file)
		var te interface{ Timeout() bool }
		if err == nil || !errors.As(err, &te) || !te.Timeout() {
			t.Fatalf("err = %v, want a client timeout", err)
		}
		if time.Since(start) < 300*time.Millisecond {
			t.Error("answered before the client's timeout")
		}
		if status(id) != 404 {
			t.Error("a timed-out upload was processed")
		}
		// The held handler ends with the client's connection, not with the
		// server: the bank is idle again.
		deadline := time.Now().Add(5 * time.Second)
		for srv.Bank.held.Load() != 0 {
			if time.Now().After(deadline) {
				t.Fatal("the timeout handler still holds the request after the client gave up")
			}
			time.Sleep(5 * time.Millisecond) // polling a condition
		}
	})
	t.Run("malformed answers a truncated body, the upload is booked", func(t *testing.T) {
		srv.Bank.FailNext(FaultMalformed, 1)
		id, file := upload()
		before := booked()
		code, body, err := call(t, c, "POST", srv.URL+"/v1/payments", file)
		var rc receipt
		if err != nil || code != 202 || json.Unmarshal(body, &rc) == nil {
			t.Errorf("got %d %q %v, want a 202 with a truncated receipt", code, body, err)
		}
		if booked() != before+1 || status(id) != 200 {
			t.Error("malformed upload not booked")
		}
		srv.Bank.FailNext(FaultMalformed, 1)
		code, body, err = call(t, c, "GET", srv.URL+"/v1/payments/"+id+"/status", nil)
		if err != nil || code != 200 || contains(body, "</Document>") {
			t.Errorf("status: %d %v, want a truncated pain.002:\n%s", code, err, body)
		}
	})
	t.Run("health and the ledger are never faulted", func(t *testing.T) {
		srv.Bank.FailNext(FaultReset, 1)
		mustCall(t, c, "GET", srv.URL+"/v1/health", nil, 200)
		mustCall(t, c, "GET", srv.URL+"/sim/ledger", nil, 200)
		_, file := upload()
		if _, _, err := call(t, c, "POST", srv.URL+"/v1/payments", file); err == nil {
			t.Error("the pending reset was not applied to the next upload")
		}
	})
	if l := srv.Bank.Ledger(); l.EndToEndIDsBookedTwice != 0 {
		t.Errorf("ledger %+v", l)
	}
}

// TestFaultsReproducible: the same seed and rates give the same faults for
// the same requests; another seed does not.
func TestFaultsReproducible(t *testing.T) {
	rates := Faults{ErrorRate: 0.1, TimeoutRate: 0.05, DropAfterAcceptRate: 0.1, ResetRate: 0.05, MalformedRate: 0.1}
	draw := func(seed int64) []Fault {
		b, err := NewBank(Config{Seed: seed, Faults: rates})
		if err != nil {
			t.Fatal(err)
		}
		var out []Fault
		for i := range 500 {
			f, _ := b.decide(i%3 == 0)
			out = append(out, f)
		}
		return out
	}
	a, b, other := draw(11), draw(11), draw(12)
	if !slices.Equal(a, b) {
		t.Error("same seed, different faults")
	}
	if slices.Equal(a, other) {
		t.Error("another seed, the same faults")
	}
	counts := map[Fault]int{}
	for i, f := range a {
		counts[f]++
		if f == FaultDropAfterAccept && i%3 != 0 {
			t.Errorf("request %d: drop-after-accept on a query", i)
		}
	}
	for _, f := range []Fault{FaultError, FaultTimeout, FaultDropAfterAccept, FaultReset, FaultMalformed, ""} {
		if counts[f] == 0 {
			t.Errorf("no %q in 500 draws: %v", f, counts)
		}
	}
}

// TestFaultRatesOverHTTP: with a drop-after-accept rate of 1 every upload
// is booked and none is answered.
func TestFaultRatesOverHTTP(t *testing.T) {
	srv, _ := startTest(t, Config{Faults: Faults{DropAfterAcceptRate: 1}})
	c := mtlsClient(t, srv.TLS, true)
	for i := range 3 {
		id := fmt.Sprintf("RATE-%d", i)
		if _, _, err := call(t, c, "POST", srv.URL+"/v1/payments", encode(t, "ekase", id, day0, pay(id, acct1, cred("HABA0012345678910"), "1.00"))); err == nil {
			t.Error("answered")
		}
	}
	srv.Bank.SetFaults(Faults{})
	if l := srv.Bank.Ledger(); l.TransactionsBooked != 3 {
		t.Errorf("booked %d, want 3", l.TransactionsBooked)
	}
	mustCall(t, c, "GET", srv.URL+"/v1/payments/RATE-0/status", nil, http.StatusOK)
}
