package certstore

import (
	"context"
	"crypto/tls"
	"time"
)

// An ActivationPolicy says when a renewed certificate of a purpose starts
// being served. Some services accept a new certificate only after they
// have fetched it themselves: Vero's API answers a new production
// certificate only after Vero's daily (weekday) fetch, in practice from the
// next business day. Until activation the previous pair is served.
type ActivationPolicy struct {
	// NextBusinessDay serves a renewed certificate from the start of the
	// first business day (Monday to Friday, not in Holidays) after the day
	// it was issued, plus Offset. False: serve it at once.
	NextBusinessDay bool
	// Offset into that day. Default: 0 (midnight).
	Offset time.Duration
	// Location of the business calendar. Default: Europe/Helsinki (UTC if
	// the time zone database is missing).
	Location *time.Location
	// Holidays are extra non-business days, as "2006-01-02".
	Holidays []string
	// Probe, if set, is tried with the new certificate while activation is
	// pending; once it succeeds the new certificate is served at once.
	Probe func(ctx context.Context, cert *tls.Certificate) error
}

// ActivateAt returns when a certificate issued at issued becomes live under
// p; the zero time means at once.
func (p ActivationPolicy) ActivateAt(issued time.Time) time.Time {
	if !p.NextBusinessDay {
		return time.Time{}
	}
	loc := p.Location
	if loc == nil {
		loc = helsinki()
	}
	t := issued.In(loc)
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	for {
		day = day.AddDate(0, 0, 1)
		if p.businessDay(day) {
			return day.Add(p.Offset)
		}
	}
}

func (p ActivationPolicy) businessDay(d time.Time) bool {
	if d.Weekday() == time.Saturday || d.Weekday() == time.Sunday {
		return false
	}
	ds := d.Format(time.DateOnly)
	for _, h := range p.Holidays {
		if h == ds {
			return false
		}
	}
	return true
}

func helsinki() *time.Location {
	if loc, err := time.LoadLocation("Europe/Helsinki"); err == nil {
		return loc
	}
	return time.UTC
}
