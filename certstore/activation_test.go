package certstore_test

import (
	"testing"
	"time"

	"github.com/isogate/isogate/certstore"
)

func TestActivateAtNextBusinessDay(t *testing.T) {
	hel, err := time.LoadLocation("Europe/Helsinki")
	if err != nil {
		t.Skip("no time zone database")
	}
	p := certstore.ActivationPolicy{NextBusinessDay: true, Location: hel, Holidays: []string{"2026-12-24", "2026-12-25"}}
	tests := []struct {
		issued, want string // Helsinki local time
	}{
		{"2026-11-23 10:00", "2026-11-24 00:00"}, // Monday → Tuesday
		{"2026-11-27 23:59", "2026-11-30 00:00"}, // Friday → Monday
		{"2026-11-28 12:00", "2026-11-30 00:00"}, // Saturday → Monday
		{"2026-12-23 09:00", "2026-12-28 00:00"}, // before Christmas holidays and a weekend
		{"2026-11-26 23:30", "2026-11-27 00:00"}, // 21:30 UTC on Thursday is already late evening in Helsinki
	}
	for _, tt := range tests {
		issued, _ := time.ParseInLocation("2006-01-02 15:04", tt.issued, hel)
		want, _ := time.ParseInLocation("2006-01-02 15:04", tt.want, hel)
		if got := p.ActivateAt(issued.UTC()); !got.Equal(want) {
			t.Errorf("ActivateAt(%s) = %s, want %s", tt.issued, got.In(hel), tt.want)
		}
	}
	if got := (certstore.ActivationPolicy{}).ActivateAt(time.Now()); !got.IsZero() {
		t.Errorf("ActivateAt without NextBusinessDay = %s, want zero (at once)", got)
	}
}
