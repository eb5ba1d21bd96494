package messages

import (
	"log/slog"
	"strings"
	"unicode/utf8"
)

// MaskIBAN hides the account number of an IBAN for logs, keeping the
// country code, the check digits and the last four characters:
// "LV80BANK0000435195001" becomes "LV80 **** 5001". Spaces in s are
// ignored; anything too short to keep part of is masked entirely ("****").
func MaskIBAN(s string) string {
	s = strings.Join(strings.Fields(s), "")
	if len(s) < 12 || !utf8.ValidString(s) || utf8.RuneCountInString(s) != len(s) {
		if s == "" {
			return ""
		}
		return "****"
	}
	return s[:4] + " **** " + s[len(s)-4:]
}

// MaskName hides a name for logs, keeping the first letter of each word:
// "SIA Piegādātājs" becomes "S*** P***".
func MaskName(s string) string {
	words := strings.Fields(s)
	for i, w := range words {
		r, _ := utf8.DecodeRuneInString(w)
		words[i] = string(r) + "***"
	}
	return strings.Join(words, " ")
}

// LogValue logs an intent as its id, amount and currency with masked
// account numbers and names, so that a logged intent never shows a full
// IBAN or name.
func (p PaymentIntent) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", p.ID),
		slog.String("amount", p.Amount),
		slog.String("currency", p.Currency),
		slog.String("debtor_iban", MaskIBAN(p.Debtor.IBAN)),
		slog.String("debtor_name", MaskName(p.Debtor.Name)),
		slog.String("creditor_iban", MaskIBAN(p.Creditor.IBAN)),
		slog.String("creditor_name", MaskName(p.Creditor.Name)),
	)
}
