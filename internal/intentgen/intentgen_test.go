package intentgen

import (
	"encoding/json"
	"testing"

	"github.com/isogate/isogate/messages"
)

func TestIntentsAreValid(t *testing.T) {
	intents := Intents(2000, Options{Seed: 7})
	ids := map[string]bool{}
	for _, p := range intents {
		data, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := messages.ParseIntent(data); err != nil {
			t.Fatalf("generated intent %s is invalid: %v\n%s", p.ID, err, data)
		}
		if ids[p.ID] {
			t.Fatalf("id %s generated twice", p.ID)
		}
		ids[p.ID] = true
	}
}

func TestIBANKnownValue(t *testing.T) {
	// The example IBAN of the Latvian IBAN registry entry.
	if got := IBAN("LV", "BANK0000435195001"); got != "LV80BANK0000435195001" {
		t.Errorf("IBAN() = %s, want LV80BANK0000435195001", got)
	}
	if got := IBAN("RF", "539007547034"); got != "RF18539007547034" {
		t.Errorf("creditor reference = %s, want RF18539007547034", got)
	}
}

func TestDeterministic(t *testing.T) {
	a, _ := json.Marshal(Intents(50, Options{Seed: 1}))
	b, _ := json.Marshal(Intents(50, Options{Seed: 1}))
	if string(a) != string(b) {
		t.Error("same seed gave different intents")
	}
}
