package app

import (
	"testing"

	"github.com/isogate/isogate/workers/encoder"
	"github.com/isogate/isogate/workers/submitter"
)

// TestEncoderWatchesTheSubmitter: the encoder holds batches while the
// consumer named encoder.Downstream is behind; that must be the
// submitter's, or holding would never (or always) happen.
func TestEncoderWatchesTheSubmitter(t *testing.T) {
	if encoder.Downstream != submitter.Name {
		t.Errorf("encoder.Downstream = %q, submitter.Name = %q", encoder.Downstream, submitter.Name)
	}
}
