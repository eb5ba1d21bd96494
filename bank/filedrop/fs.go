package filedrop

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// fileName turns a MsgId (ISO Max35Text: any characters) into a safe file
// name: letters, digits, '-', '_' and '.' are kept, every other byte (and
// a leading '.') becomes %XX.
func fileName(msgID string) string {
	var b strings.Builder
	for i := 0; i < len(msgID); i++ {
		c := msgID[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.' && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// isTemp reports whether name is a file still being written by someone:
// hidden names and the usual temporary suffixes of SFTP and copy tools.
func isTemp(name string) bool {
	lower := strings.ToLower(name)
	if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "~") {
		return true
	}
	for _, s := range []string{".tmp", ".part", ".partial", ".filepart", ".crdownload", ".inprogress", "~"} {
		if strings.HasSuffix(lower, s) {
			return true
		}
	}
	return false
}

// tempName is the name a file is written under before it is renamed into
// place: hidden and with a .tmp suffix, so no reader takes it.
func tempName(name string) string {
	var r [6]byte
	rand.Read(r[:])
	return "." + name + "." + hex.EncodeToString(r[:]) + ".tmp"
}

// writeTemp writes data to a new temporary file in dir, fsyncs it and
// returns its path.
func writeTemp(dir, name string, data []byte) (string, error) {
	tmp := filepath.Join(dir, tempName(name))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// syncDir fsyncs a directory so a rename in it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	// Some network file systems cannot fsync a directory.
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		return nil
	}
	return err
}

// writeAtomic writes data to dir/name: temporary name in the same folder,
// fsync, rename, fsync of the folder.
func writeAtomic(dir, name string, data []byte) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	tmp, err := writeTemp(dir, name, data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// readIfExists returns the file's contents, or nil, false when it does not
// exist.
func readIfExists(path string) ([]byte, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// move moves src into dir (created if needed) under its own name, or under
// name-<hash> when a different file has that name; a copy with the same
// contents already there just removes src. Across file systems it copies
// atomically, then removes src.
func move(src, dir string, data []byte) (string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	name := filepath.Base(src)
	dst := filepath.Join(dir, name)
	if old, ok, err := readIfExists(dst); err != nil {
		return "", err
	} else if ok {
		if bytes.Equal(old, data) {
			return dst, os.Remove(src)
		}
		ext := filepath.Ext(name)
		name = strings.TrimSuffix(name, ext) + "-" + shortHash(data) + ext
		dst = filepath.Join(dir, name)
	}
	err := os.Rename(src, dst)
	if errors.Is(err, syscall.EXDEV) {
		if err = writeAtomic(dir, name, data); err == nil {
			err = os.Remove(src)
		}
	}
	if err != nil {
		return "", err
	}
	if err := syncDir(dir); err != nil {
		return "", err
	}
	return dst, syncDir(filepath.Dir(src))
}

func shortHash(b []byte) string {
	h := sha(b)
	return h[:12]
}
