package xmlcodec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeProfiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestProfileSetOverridesAndAdds(t *testing.T) {
	dir := writeProfiles(t, map[string]string{
		"ekase.yaml":      "base: ekase\nlimits: {max_tx_per_file: 500}\n",
		"treasury2.yaml":  "base: iso2019\ncurrencies: [EUR]\n",
		"notes.txt":       "not a profile",
		"ekase-lite.yaml": "base: ekase\nname: ekase-lite\ncharset: {on_invalid: transliterate}\n",
	})
	set, err := NewProfileSet(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := set.Lookup("ekase")
	if err != nil {
		t.Fatal(err)
	}
	if p.Limits.MaxTxPerFile != 500 || p.Debtor.BIC != "TRELLV22" || !set.Overridden("ekase") {
		t.Errorf("overridden ekase = %+v", p)
	}
	if p, err := set.Lookup("treasury2"); err != nil || p.Name != "treasury2" || p.Messages.Pain001 != Pain001V09 {
		t.Errorf("added treasury2 = %+v, %v", p, err)
	}
	if p, err := set.Lookup("iso2019"); err != nil || set.Overridden("iso2019") || p.Limits.MaxTxPerFile != 10000 {
		t.Errorf("built-in iso2019 = %+v, %v", p, err)
	}
	if got := strings.Join(set.Names(), ","); got != "ekase,ekase-lite,iso2019,treasury2" {
		t.Errorf("Names() = %s", got)
	}
	_, err = set.Lookup("nope")
	if !errors.Is(err, ErrUnknownProfile) || !strings.Contains(err.Error(), "treasury2") {
		t.Errorf("Lookup(nope) = %v, want ErrUnknownProfile listing treasury2", err)
	}
}

func TestProfileSetReportsEveryBrokenFile(t *testing.T) {
	dir := writeProfiles(t, map[string]string{
		"a.yaml": "base: ekase\ntypo: 1\n",
		"b.yaml": "name: other\nmessages: {pain001: pain.001.001.03}\n",
		"c.yaml": "base: nope\n",
	})
	_, err := NewProfileSet(dir)
	if err == nil {
		t.Fatal("NewProfileSet accepted broken profiles")
	}
	for _, want := range []string{"a.yaml", `name "other" differs from the file name "b"`, "c.yaml"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if _, err := NewProfileSet(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing directory accepted")
	}
}

func TestProfileSetEmptyDirIsBuiltIns(t *testing.T) {
	set, err := NewProfileSet("")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(set.Names(), ","); got != strings.Join(ProfileNames(), ",") {
		t.Errorf("Names() = %s", got)
	}
}
