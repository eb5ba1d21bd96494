package messages

// Intent type and version. A payment intent may carry these two fields; when
// absent they default to TypePaymentIntent and Version1.
const (
	TypePaymentIntent = "pay.intent"
	Version1          = 1
)

// PaymentIntent is one payment an upstream service asks the gateway to make
// (event "pay.intent", version 1, on [IntentSubject]). Its ID is the
// idempotency key: it becomes the pain.001 EndToEndId, the Nats-Msg-Id and
// the key in the intents bucket.
//
// Amount is a decimal string ("1234.50"), never a number. Read intents with
// [ParseIntent]; check one built in Go with [PaymentIntent.Validate].
type PaymentIntent struct {
	Type              string  `json:"type,omitempty" doc:"pay.intent when present"`
	Version           int     `json:"version,omitempty" doc:"1 when present"`
	ID                string  `json:"id" schema:"minLength=1,maxLength=35" doc:"idempotency key, unique per payment; becomes the pain.001 EndToEndId. No control characters, no leading or trailing spaces"`
	Debtor            Account `json:"debtor" doc:"the account the money leaves from"`
	Creditor          Account `json:"creditor" doc:"the account the money goes to"`
	Amount            string  `json:"amount" schema:"minLength=1,maxLength=19,pattern=^(0|[1-9][0-9]*)(\\.[0-9]+)?$" doc:"decimal string greater than 0, at most 18 digits and at most the currency's ISO 4217 minor unit of decimal places, such as 1234.50"`
	Currency          string  `json:"currency" schema:"pattern=^[A-Z]{3}$" doc:"active ISO 4217 currency code"`
	ExecutionDate     string  `json:"execution_date,omitempty" schema:"format=date,pattern=^[0-9]{4}-[0-9]{2}-[0-9]{2}$" doc:"requested execution date, YYYY-MM-DD"`
	Remittance        string  `json:"remittance,omitempty" schema:"maxLength=140" doc:"unstructured remittance information"`
	CreditorReference string  `json:"creditor_reference,omitempty" schema:"maxLength=35" doc:"creditor's reference; when it starts with RF, an ISO 11649 reference with valid check digits"`
	Purpose           string  `json:"purpose,omitempty" schema:"pattern=^[A-Z0-9]{1,4}$" doc:"ISO 20022 ExternalPurpose1Code, such as SUPP"`
	UltimateDebtor    *Party  `json:"ultimate_debtor,omitempty"`
	UltimateCreditor  *Party  `json:"ultimate_creditor,omitempty"`
	BudgetCode        string  `json:"budget_code,omitempty" schema:"pattern=^[A-Za-z0-9.-]{1,35}$" doc:"budget classification code (EKK for the Latvian Treasury)"`
	Profile           string  `json:"profile,omitempty" schema:"pattern=^[a-z0-9_-]{1,32}$" doc:"bank profile to encode for, such as ekase"`
}

// Account is a party that holds the account money leaves from (debtor) or
// goes to (creditor).
type Account struct {
	Name    string   `json:"name" schema:"minLength=1,maxLength=140"`
	IBAN    string   `json:"iban" schema:"minLength=15,maxLength=34,pattern=^[A-Z]{2}[0-9]{2}[A-Z0-9]+$" doc:"IBAN in electronic format: upper case, no spaces, valid check digits"`
	BIC     string   `json:"bic,omitempty" schema:"pattern=^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$"`
	Address *Address `json:"address,omitempty"`
}

// Party is an ultimate debtor or creditor: named, without an account.
type Party struct {
	Name    string   `json:"name" schema:"minLength=1,maxLength=140"`
	ID      string   `json:"id,omitempty" schema:"maxLength=35"`
	Address *Address `json:"address,omitempty"`
}

// Address is a postal address, structured where the bank profile allows.
type Address struct {
	Street   string   `json:"street,omitempty" schema:"maxLength=70"`
	Building string   `json:"building,omitempty" schema:"maxLength=16"`
	Postcode string   `json:"postcode,omitempty" schema:"maxLength=16"`
	Town     string   `json:"town,omitempty" schema:"maxLength=35"`
	Country  string   `json:"country,omitempty" schema:"pattern=^[A-Z]{2}$" doc:"ISO 3166-1 alpha-2 country code"`
	Lines    []string `json:"lines,omitempty" schema:"maxItems=7,items.minLength=1,items.maxLength=70" doc:"unstructured address lines"`
}
