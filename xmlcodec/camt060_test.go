package xmlcodec

import (
	"errors"
	"testing"
)

func TestEncodeCamt060(t *testing.T) {
	for _, tt := range []struct{ profile, xsd string }{{"ekase", Camt060V03}, {"iso2019", Camt060V05}} {
		t.Run(tt.profile, func(t *testing.T) {
			req := Camt060Request{MsgID: "REQ-1", Now: fixedClock, Requests: []ReportRequest{
				{ID: "R1", Message: "camt.053", Account: makeIBAN("LV", "TREL2190456001000"), AccountCurrency: "EUR",
					OwnerName: "Finanšu ministrija", ServicerBIC: "TRELLV22", FromDate: "2026-11-01", ToDate: "2026-11-20"},
				{Message: "camt.052", Account: makeIBAN("LV", "TREL2190456001000"), FromDate: "2026-11-21", FromTime: "08:00:00", ToTime: "12:00:00", QueryType: "CHNG"},
				{Message: "camt.054.001.08", Account: "ACC-123", FromDate: "2026-11-21"},
			}}
			got, err := mustProfile(t, tt.profile).EncodeCamt060(req)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, "camt060_"+tt.profile+".golden.xml", got)
			validateXSD(t, got, tt.xsd)
		})
	}
	_, err := mustProfile(t, "ekase").EncodeCamt060(Camt060Request{Requests: []ReportRequest{{Message: "camt.059", FromDate: "2026-13-01", ToDate: "2020-01-01", QueryType: "X"}}})
	var ve ValidationErrors
	if !errors.As(err, &ve) || len(ve) < 5 {
		t.Errorf("EncodeCamt060(bad) = %v, want ≥ 5 field errors", err)
	}
}
