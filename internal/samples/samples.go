// Package samples gives tests the reference ISO 20022 messages kept beside
// the repository, in ../shared/iso20022/samples. A test that reads them
// skips them when the folder is absent on a user's machine and fails when
// it is absent in CI (the environment variable CI is set).
package samples

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// MaxSeed is the largest file [Seeds] passes on: fuzz seeds over 1 MiB
// only slow the fuzzer.
const MaxSeed = 1 << 20

// RepoRoot returns the folder holding go.mod above the working directory.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("samples: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Dir returns the samples folder, or "" when it is absent outside CI.
func Dir(tb testing.TB) string {
	tb.Helper()
	dir := filepath.Join(RepoRoot(tb), "..", "shared", "iso20022", "samples")
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("samples folder %s required in CI: %v", dir, err)
		}
		return ""
	}
	return dir
}

// Seeds calls add with the name and contents of every sample whose name
// starts with prefix ("" for all) and ends in .xml, and then of every
// golden file of xmlcodec/testdata whose name contains prefix when golden
// is set, skipping files over [MaxSeed].
func Seeds(tb testing.TB, prefix string, golden bool, add func(name string, data []byte)) {
	tb.Helper()
	var files []string
	if dir := Dir(tb); dir != "" {
		files, _ = filepath.Glob(filepath.Join(dir, prefix+"*.xml"))
	}
	if golden {
		all, _ := filepath.Glob(filepath.Join(RepoRoot(tb), "xmlcodec", "testdata", "*.golden.xml"))
		for _, p := range all {
			if strings.Contains(filepath.Base(p), prefix) {
				files = append(files, p)
			}
		}
	}
	for _, p := range files {
		if st, err := os.Stat(p); err != nil || st.Size() > MaxSeed {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		add(filepath.Base(p), data)
	}
}
