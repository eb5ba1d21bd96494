package xmlcodec

import (
	"errors"
	"io"
)

// DecodeAll reads a whole document into memory: for small files and tests.
// It stops at the first error, recoverable or not.
func DecodeAll(r io.Reader, lim Limits) (MessageInfo, []Record, error) {
	d := NewDecoder(r, lim)
	var recs []Record
	for {
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			info, _ := d.Message()
			return info, recs, nil
		}
		if err != nil {
			info, _ := d.Message()
			return info, recs, err
		}
		recs = append(recs, rec)
	}
}
