package filedrop_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/isogate/isogate/bank/channeltest"
	"github.com/isogate/isogate/bank/filedrop"
	"github.com/isogate/isogate/banksim"
)

// folders makes outbox, inbox and archive under a new temporary folder.
func folders(t *testing.T) filedrop.Config {
	t.Helper()
	root := t.TempDir()
	cfg := filedrop.Config{Outbox: filepath.Join(root, "outbox"), Inbox: filepath.Join(root, "inbox"), Archive: filepath.Join(root, "archive")}
	for _, d := range []string{cfg.Outbox, cfg.Inbox, cfg.Archive} {
		if err := os.Mkdir(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	return cfg
}

// newHarness wires a file drop to banksim's host-to-host front end: the
// bank works when the suite calls Process (one ProcessFolders pass).
func newHarness(profile string) func(t *testing.T) channeltest.Harness {
	return func(t *testing.T) channeltest.Harness { return harness(t, profile) }
}

func harness(t *testing.T, profile string) channeltest.Harness {
	clock := channeltest.NewClock(channeltest.StartTime())
	b, err := banksim.NewBank(banksim.Config{Profile: profile, Now: clock.Now, Seed: 1, Accounts: channeltest.Accounts()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	cfg := folders(t)
	ch, err := filedrop.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return channeltest.Harness{
		Channel: ch, Bank: b, Clock: clock, Deferred: true,
		Process: func(t *testing.T) {
			t.Helper()
			if _, err := b.ProcessFolders(cfg.Outbox, cfg.Inbox); err != nil {
				t.Fatalf("ProcessFolders: %v", err)
			}
		},
	}
}

func TestContract(t *testing.T) {
	t.Run("ekase", func(t *testing.T) { channeltest.Run(t, newHarness("ekase")) })
	t.Run("iso2019", func(t *testing.T) { channeltest.Run(t, newHarness("iso2019")) })
}
