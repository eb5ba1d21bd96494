// Package intentgen makes valid, varied payment intents for demos,
// benchmarks and tests: several debtor accounts, Latvian letters, purposes
// and budget codes, deterministic for a given seed.
package intentgen

import (
	"fmt"
	"math/rand/v2"

	"github.com/isogate/isogate/messages"
)

// IBAN returns the IBAN for a country code and BBAN, with its check digits
// computed (ISO 13616, mod 97-10).
func IBAN(country, bban string) string { return messages.ComposeIBAN(country, bban) }

var (
	towns      = []string{"Rīga", "Daugavpils", "Liepāja", "Jelgava", "Jūrmala", "Ventspils", "Rēzekne", "Valmiera"}
	streets    = []string{"Brīvības iela", "Elizabetes iela", "Krišjāņa Barona iela", "Ģertrūdes iela", "Čiekurkalna 1. līnija"}
	suppliers  = []string{"SIA Piegādātājs", "SIA Ēdināšanas serviss", "AS Būvniecība", "SIA Žurnālu nams", "IK Ķīmija", "SIA Ūdens"}
	debtors    = []string{"Valsts iestāde", "Finanšu ministrija", "Rīgas domes aģentūra", "Veselības inspekcija"}
	purposes   = []string{"SUPP", "SALA", "TAXS", "GOVT", ""}
	budgets    = []string{"2279", "2231", "1150", "2311", "5121", ""}
	agents     = []string{"HABALV22", "UNLALV2X", "PARXLV22", "RIKOLV2X", ""}
	bankCodes  = []string{"HABA", "UNLA", "PARX", "RIKO", "NDEA"}
	execDates  = []string{"2026-11-30", "2026-12-01", "2026-12-02"}
	currencies = []string{"EUR"}
)

// Options shape a generated batch.
type Options struct {
	// Prefix starts every id; ids are Prefix-000000, Prefix-000001, ...
	Prefix string
	// Debtors is how many debtor accounts the intents spread over. Default 4.
	Debtors int
	// Seed makes the output repeatable.
	Seed uint64
	// Profile names the bank profile of every intent. Default "ekase".
	Profile string
}

// Intents returns n valid intents.
func Intents(n int, o Options) []messages.PaymentIntent {
	if o.Prefix == "" {
		o.Prefix = "INV"
	}
	if o.Debtors <= 0 {
		o.Debtors = 4
	}
	if o.Profile == "" {
		o.Profile = "ekase"
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x150ca7e))
	out := make([]messages.PaymentIntent, n)
	for i := range out {
		d := i % o.Debtors
		bank := bankCodes[rng.IntN(len(bankCodes))]
		p := messages.PaymentIntent{
			ID: fmt.Sprintf("%s-%06d", o.Prefix, i),
			Debtor: messages.Account{
				Name: debtors[d%len(debtors)],
				IBAN: IBAN("LV", fmt.Sprintf("TREL%013d", 9190000000001+d)),
				BIC:  "TRELLV22",
			},
			Creditor: messages.Account{
				Name: fmt.Sprintf("%s %d", suppliers[rng.IntN(len(suppliers))], i),
				IBAN: IBAN("LV", fmt.Sprintf("%s%013d", bank, rng.Int64N(1e13))),
				BIC:  agents[rng.IntN(len(agents))],
			},
			Amount:        fmt.Sprintf("%d.%02d", 1+rng.IntN(99999), rng.IntN(100)),
			Currency:      currencies[0],
			ExecutionDate: execDates[rng.IntN(len(execDates))],
			Remittance:    fmt.Sprintf("Rēķins Nr. %d/%d", 2026, i),
			Purpose:       purposes[rng.IntN(len(purposes))],
			BudgetCode:    budgets[rng.IntN(len(budgets))],
			Profile:       o.Profile,
		}
		if rng.IntN(3) > 0 {
			p.Creditor.Address = &messages.Address{
				Street:   streets[rng.IntN(len(streets))],
				Building: fmt.Sprint(1 + rng.IntN(120)),
				Postcode: fmt.Sprintf("LV-%04d", 1001+rng.IntN(4000)),
				Town:     towns[rng.IntN(len(towns))],
				Country:  "LV",
			}
		}
		if rng.IntN(5) == 0 {
			p.Remittance = ""
			p.CreditorReference = creditorReference(fmt.Sprintf("%d%06d", 2026, i))
		}
		if rng.IntN(10) == 0 {
			p.UltimateDebtor = &messages.Party{Name: "Valsts kase", ID: "90000050138"}
		}
		out[i] = p
	}
	return out
}

// creditorReference builds an ISO 11649 RF reference around ref (digits and
// capital letters).
func creditorReference(ref string) string {
	s := IBAN("RF", ref) // the same mod 97-10 scheme: RF + check digits + ref
	return s
}
