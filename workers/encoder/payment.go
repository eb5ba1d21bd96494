package encoder

import (
	"errors"
	"math/big"
	"strings"

	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/xmlcodec"
)

// toPayment converts an intent into the payment xmlcodec encodes; the
// intent id becomes the EndToEndId. (The same mapping as `isogate xml
// encode`, kept here so this package owns its conversion.)
func toPayment(in messages.PaymentIntent) xmlcodec.Payment {
	return xmlcodec.Payment{
		ID:                in.ID,
		Debtor:            toAccount(in.Debtor),
		Creditor:          toAccount(in.Creditor),
		Amount:            in.Amount,
		Currency:          in.Currency,
		ExecutionDate:     in.ExecutionDate,
		Remittance:        in.Remittance,
		CreditorReference: in.CreditorReference,
		Purpose:           in.Purpose,
		UltimateDebtor:    toParty(in.UltimateDebtor),
		UltimateCreditor:  toParty(in.UltimateCreditor),
		BudgetCode:        in.BudgetCode,
	}
}

func toAccount(a messages.Account) xmlcodec.Account {
	return xmlcodec.Account{Name: a.Name, IBAN: a.IBAN, BIC: a.BIC, Address: toAddress(a.Address)}
}

func toParty(p *messages.Party) *xmlcodec.Party {
	if p == nil {
		return nil
	}
	return &xmlcodec.Party{Name: p.Name, ID: p.ID, Address: toAddress(p.Address)}
}

func toAddress(a *messages.Address) *xmlcodec.Address {
	if a == nil {
		return nil
	}
	return &xmlcodec.Address{Street: a.Street, Building: a.Building, Postcode: a.Postcode, Town: a.Town,
		Country: a.Country, Lines: append([]string(nil), a.Lines...)}
}

// validate checks one intent against its profile, as EncodePain001 will
// check it in its batch, and returns the payment normalised (the amount in
// the currency's minor units).
func validate(p *xmlcodec.Profile, in messages.PaymentIntent) (xmlcodec.Payment, error) {
	out, _, err := p.ValidatePayments([]xmlcodec.Payment{toPayment(in)})
	if err != nil {
		return xmlcodec.Payment{}, err
	}
	return out[0], nil
}

// mergeReasons adds the profile's field errors to the intent's own, leaving
// out fields the intent's check already reported (the same problem in
// other words).
func mergeReasons(reasons []messages.FieldError, err error) []messages.FieldError {
	if err == nil {
		return reasons
	}
	var ve xmlcodec.ValidationErrors
	if !errors.As(err, &ve) {
		return append(reasons, messages.FieldError{Reason: err.Error()})
	}
	have := map[string]bool{}
	for _, r := range reasons {
		have[r.Field] = true
	}
	for _, fe := range ve {
		if fe.Field != "" && have[fe.Field] {
			continue
		}
		reasons = append(reasons, messages.FieldError{Field: fe.Field, Reason: fe.Reason})
	}
	return reasons
}

// maxCtrlSum is 10^18 minor units: pain.001 CtrlSum is a DecimalNumber of
// at most 18 digits, so a batch closes before its sum would reach it.
var maxCtrlSum = new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)

// minorUnits reads a normalised amount ("1234.50") as an integer of minor
// units (123450).
func minorUnits(amount string) *big.Int {
	v, ok := new(big.Int).SetString(strings.Replace(amount, ".", "", 1), 10)
	if !ok {
		return new(big.Int)
	}
	return v
}
