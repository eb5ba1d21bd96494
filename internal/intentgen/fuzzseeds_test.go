package intentgen

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var updateSeeds = flag.Bool("update", false, "rewrite messages/testdata/fuzz/FuzzParseIntent/intentgen-*")

// fuzzSeedDir holds the intents FuzzParseIntent (package messages) starts
// from: messages' tests cannot import this package (it imports messages),
// so they are checked in, in go test's corpus format.
var fuzzSeedDir = filepath.Join("..", "..", "messages", "testdata", "fuzz", "FuzzParseIntent")

// fuzzSeeds are a few generated intents of each shape: with and without an
// address, remittance or creditor reference, an ultimate debtor, both
// profiles.
func fuzzSeeds() map[string][]byte {
	var intents = Intents(12, Options{Prefix: "GEN", Seed: 1})
	intents = append(intents, Intents(2, Options{Prefix: "ISO", Seed: 2, Profile: "iso2019"})...)
	out := map[string][]byte{}
	for i, p := range intents {
		data, err := json.Marshal(p)
		if err != nil {
			panic(err)
		}
		out[fmt.Sprintf("intentgen-%02d", i)] = fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data)
	}
	return out
}

// TestFuzzSeeds checks that the checked-in seeds are what intentgen makes
// (go test ./internal/intentgen -run FuzzSeeds -update rewrites them).
func TestFuzzSeeds(t *testing.T) {
	for name, want := range fuzzSeeds() {
		path := filepath.Join(fuzzSeedDir, name)
		if *updateSeeds {
			if err := os.MkdirAll(fuzzSeedDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != string(want) {
			t.Errorf("%s is not what intentgen makes (%v); run go test ./internal/intentgen -run FuzzSeeds -update", path, err)
		}
	}
}
