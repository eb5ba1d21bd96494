package xmlcodec

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

func mustProfile(t testing.TB, name string) *Profile {
	t.Helper()
	p, err := LookupProfile(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEncodePain001Golden: the built-in profiles write flat files; a
// profile with indent: true writes the same document indented.
func TestEncodePain001Golden(t *testing.T) {
	indented, err := ParseProfile([]byte("base: ekase\nname: ekase-indented\nindent: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		profile, xsd string
		p            *Profile
	}{
		{"ekase", Pain001V03, mustProfile(t, "ekase")},
		{"iso2019", Pain001V09, mustProfile(t, "iso2019")},
		{"ekase_indented", Pain001V03, indented},
	} {
		t.Run(tt.profile, func(t *testing.T) {
			p := tt.p
			req := Pain001Request{MsgID: "GOLDEN-1", Now: fixedClock, Payments: variedPayments(14)}
			res, err := p.EncodePain001(req)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Files) != 1 {
				t.Fatalf("got %d files, want 1", len(res.Files))
			}
			got := res.Files[0].Data
			checkGolden(t, "pain001_"+tt.profile+".golden.xml", got)
			again, err := p.EncodePain001(req)
			if err != nil || !bytes.Equal(again.Files[0].Data, got) {
				t.Errorf("second encoding differs: not deterministic (err %v)", err)
			}
			if lines := bytes.Count(got, []byte("\n")); p.Indent != (lines > 100) {
				t.Errorf("indent %v: %d lines", p.Indent, lines)
			}
			validateXSD(t, got, tt.xsd) // last: skips locally without xmllint
		})
	}
}

// TestEncodePain001Varied is must-show 1: 1,500 varied payments validate
// against the official schema of each profile's version, and CtrlSum is
// the exact sum recomputed from the document.
func TestEncodePain001Varied(t *testing.T) {
	pays := variedPayments(1500)
	var want decimalSum
	for _, x := range pays {
		want.Add(x.Amount)
	}
	for _, tt := range []struct{ profile, xsd string }{
		{"ekase", Pain001V03},
		{"iso2019", Pain001V09},
	} {
		t.Run(tt.profile, func(t *testing.T) {
			res, err := mustProfile(t, tt.profile).EncodePain001(Pain001Request{Now: fixedClock, Payments: pays})
			if err != nil {
				t.Fatal(err)
			}
			f := res.Files[0]
			defer validateXSD(t, f.Data, tt.xsd) // last: skips locally without xmllint
			doc := etree.NewDocument()
			if err := doc.ReadFromBytes(f.Data); err != nil {
				t.Fatal(err)
			}
			var sum decimalSum
			amts := doc.FindElements("//CdtTrfTxInf/Amt/InstdAmt")
			for _, e := range amts {
				sum.Add(e.Text())
			}
			if len(amts) != 1500 || f.NbOfTxs != 1500 {
				t.Errorf("transactions = %d (NbOfTxs %d), want 1500", len(amts), f.NbOfTxs)
			}
			ctrl := doc.FindElement("//GrpHdr/CtrlSum").Text()
			if ctrl != sum.String(2) || ctrl != want.String(2) {
				t.Errorf("CtrlSum = %s, want %s (document) = %s (input)", ctrl, sum.String(2), want.String(2))
			}
			if n := len(doc.FindElements("//PmtInf")); n != 9 {
				t.Errorf("PmtInf blocks = %d, want 9 (3 debtors × 3 dates)", n)
			}
			if !strings.Contains(string(f.Data), "Rīgas valstspilsētas pašvaldība") {
				t.Error("Latvian letters did not survive")
			}
		})
	}
}

func TestEncodePain001Split(t *testing.T) {
	p := mustProfile(t, "ekase")
	p.Limits.MaxTxPerFile = 400
	p.Limits.MaxTxPerPmtInf = 150
	pays := variedPayments(1000)
	res, err := p.EncodePain001(Pain001Request{MsgID: "SPLIT", Now: fixedClock, Payments: pays})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 3 {
		t.Fatalf("files = %d, want 3", len(res.Files))
	}
	var total decimalSum
	seen := 0
	for i, f := range res.Files {
		if want := "SPLIT-" + string(rune('1'+i)); f.MsgID != want {
			t.Errorf("file %d MsgID = %s, want %s", i, f.MsgID, want)
		}
		defer validateXSD(t, f.Data, Pain001V03)
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(f.Data); err != nil {
			t.Fatal(err)
		}
		for _, pi := range doc.FindElements("//PmtInf") {
			if n := len(pi.SelectElements("CdtTrfTxInf")); n > 150 {
				t.Errorf("PmtInf with %d transactions, limit 150", n)
			}
		}
		for _, id := range f.PaymentIDs {
			if id != pays[seen].ID && false {
				t.Errorf("order")
			}
			seen++
		}
		total.Add(f.CtrlSum)
	}
	var want decimalSum
	for _, x := range pays {
		want.Add(x.Amount)
	}
	if seen != 1000 || total.String(2) != want.String(2) {
		t.Errorf("files hold %d payments summing %s, want 1000 summing %s", seen, total.String(2), want.String(2))
	}
}

func TestValidatePayments(t *testing.T) {
	good := variedPayments(1)[0]
	tests := []struct {
		name    string
		profile string
		mod     func(*Payment)
		field   string // want a FieldError on this field; "" = valid
	}{
		{"valid", "ekase", func(*Payment) {}, ""},
		{"bad IBAN checksum", "ekase", func(p *Payment) { p.Creditor.IBAN = "LV80BANK0000435195002" }, "creditor.iban"},
		{"IBAN wrong length", "ekase", func(p *Payment) { p.Creditor.IBAN = "LV80BANK000043519500" }, "creditor.iban"},
		{"IBAN check digits 00 (97 mod 97)", "ekase", func(p *Payment) { p.Creditor.IBAN = "LV00HABA0012345678910" }, "creditor.iban"},
		{"IBAN check digits 99 (02 mod 97)", "iso2019", func(p *Payment) { p.Creditor.IBAN = "GB99WEST12345698765514" }, "creditor.iban"},
		{"IBAN unknown country", "ekase", func(p *Payment) { p.Creditor.IBAN = "QQ80BANK0000435195001" }, "creditor.iban"},
		{"debtor not Treasury", "ekase", func(p *Payment) { p.Debtor.IBAN = makeIBAN("LV", "HABA0551012345678") }, "debtor.iban"},
		{"debtor BIC not TRELLV22", "ekase", func(p *Payment) { p.Debtor.BIC = "HABALV22" }, "debtor.bic"},
		{"bad BIC", "ekase", func(p *Payment) { p.Creditor.BIC = "HABA LV22" }, "creditor.bic"},
		{"float-ish amount", "ekase", func(p *Payment) { p.Amount = "1e3" }, "amount"},
		{"negative amount", "ekase", func(p *Payment) { p.Amount = "-5.00" }, "amount"},
		{"zero amount", "ekase", func(p *Payment) { p.Amount = "0.00" }, "amount"},
		{"too precise", "ekase", func(p *Payment) { p.Amount = "1.005" }, "amount"},
		{"too many digits", "iso2019", func(p *Payment) { p.Amount = "12345678901234567.00" }, "amount"},
		{"currency", "ekase", func(p *Payment) { p.Currency = "USD" }, "currency"},
		{"currency code", "iso2019", func(p *Payment) { p.Currency = "eur" }, "currency"},
		{"id too long", "ekase", func(p *Payment) { p.ID = strings.Repeat("x", 36) }, "id"},
		{"id missing", "ekase", func(p *Payment) { p.ID = "" }, "id"},
		{"remittance 141", "ekase", func(p *Payment) { p.Remittance = strings.Repeat("ā", 141) }, "remittance"},
		{"remittance charset", "ekase", func(p *Payment) { p.Remittance = "Zahlung für Müller" }, "remittance"},
		{"remittance unicode ok", "iso2019", func(p *Payment) { p.Remittance = "Zahlung für Müller & Söhne" }, ""},
		{"control char", "iso2019", func(p *Payment) { p.Remittance = "a\x01b" }, "remittance"},
		{"bad RF", "ekase", func(p *Payment) { p.CreditorReference = "RF00INV1" }, "creditor_reference"},
		{"creditor name required", "ekase", func(p *Payment) { p.Creditor.Name = "" }, "creditor.name"},
		{"date", "ekase", func(p *Payment) { p.ExecutionDate = "2026-02-30" }, "execution_date"},
		{"country", "ekase", func(p *Payment) { p.Creditor.Address = &Address{Country: "Latvia"} }, "creditor.address.country"},
		{"budget pattern", "ekase", func(p *Payment) { p.BudgetCode = "ekk 22 31" }, "budget_code"},
		{"ultimate name", "ekase", func(p *Payment) { p.UltimateCreditor = &Party{ID: "1"} }, "ultimate_creditor.name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := good
			tt.mod(&p)
			_, _, err := mustProfile(t, tt.profile).ValidatePayments([]Payment{p})
			if tt.field == "" {
				if err != nil {
					t.Fatalf("ValidatePayments(%s) = %v, want nil", tt.name, err)
				}
				return
			}
			var ve ValidationErrors
			if !errors.As(err, &ve) || !errors.Is(err, ErrValidation) {
				t.Fatalf("ValidatePayments(%s) = %v, want ValidationErrors", tt.name, err)
			}
			for _, fe := range ve {
				if fe.Field == tt.field && fe.ID == p.ID {
					return
				}
			}
			t.Errorf("ValidatePayments(%s) = %v, want an error on %s", tt.name, err, tt.field)
		})
	}
}

func TestValidateReportsEverything(t *testing.T) {
	pays := variedPayments(3)
	pays[0].Amount = "abc"
	pays[1].Creditor.IBAN = "LV00XXXX"
	pays[2].ID = pays[0].ID
	_, _, err := mustProfile(t, "ekase").ValidatePayments(pays)
	var ve ValidationErrors
	if !errors.As(err, &ve) || len(ve) != 3 {
		t.Fatalf("got %v, want 3 field errors", err)
	}
}

func TestTransliterate(t *testing.T) {
	p := mustProfile(t, "ekase")
	p.Charset.OnInvalid = CharsetTransliterate
	pay := variedPayments(1)[0]
	pay.Remittance = "Zahlung für Müller & Söhne"
	pay.Creditor.Name = "Jānis Ötsuka"
	out, changes, err := p.ValidatePayments([]Payment{pay})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Remittance != "Zahlung fur Muller + Sohne" {
		t.Errorf("remittance = %q", out[0].Remittance)
	}
	if len(changes) != 2 || changes[0].Field != "creditor.name" || changes[1].Field != "remittance" {
		t.Errorf("changes = %+v, want creditor.name and remittance reported", changes)
	}
	// Latvian letters are in the set and stay.
	if out[0].Creditor.Name != "Jānis Otsuka" {
		t.Errorf("creditor name = %q", out[0].Creditor.Name)
	}
	pay.Remittance = "emoji 🙂"
	if _, _, err := p.ValidatePayments([]Payment{pay}); err == nil {
		t.Error("a character with no transliteration was accepted")
	}
}

func TestProfiles(t *testing.T) {
	for _, n := range ProfileNames() {
		if _, err := LookupProfile(n); err != nil {
			t.Errorf("LookupProfile(%s) = %v", n, err)
		}
	}
	if _, err := LookupProfile("nope"); !errors.Is(err, ErrUnknownProfile) {
		t.Errorf("LookupProfile(nope) = %v, want ErrUnknownProfile", err)
	}
	if _, err := ParseProfile([]byte("name: x\nmessages: {pain001: pain.001.001.03}\ntypo: 1\n")); err == nil {
		t.Error("unknown key accepted")
	}
	if _, err := ParseProfile([]byte("name: x\nmessages: {pain001: pain.001.001.02}\n")); err == nil {
		t.Error("unsupported version accepted")
	}
	p, err := ParseProfile([]byte("base: ekase\nname: ekase-small\nlimits: {max_tx_per_file: 2000}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Limits.MaxTxPerFile != 2000 || p.Limits.RemittanceMax != 140 || p.Debtor.BIC != "TRELLV22" || p.Messages.Pain001 != Pain001V03 || p.ibanRE == nil {
		t.Errorf("overlay on ekase = %+v", p)
	}
}

func TestDecimalSum(t *testing.T) {
	var s decimalSum
	for _, a := range []string{"0.1", "0.2", "99999999999999999.99", "1", "0.005"} {
		s.Add(a)
	}
	if got, want := s.String(2), "100000000000000001.295"; got != want {
		t.Errorf("sum = %s, want %s", got, want)
	}
	for _, tt := range []struct{ in, ccy, want string }{
		{"12.5", "EUR", "12.50"}, {"007", "EUR", "7.00"}, {"100", "JPY", "100"}, {"1.230", "KWD", "1.230"}, {"0.01", "EUR", "0.01"},
	} {
		if got, err := normalizeAmount(tt.in, tt.ccy, 18); got != tt.want || err != nil {
			t.Errorf("normalizeAmount(%s %s) = %s, %v, want %s", tt.in, tt.ccy, got, err, tt.want)
		}
	}
}

func TestReadPain001RoundTrip(t *testing.T) {
	pays := variedPayments(300)
	res, err := mustProfile(t, "iso2019").EncodePain001(Pain001Request{MsgID: "RT", Now: fixedClock, Payments: pays})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := ReadPain001(bytes.NewReader(res.Files[0].Data), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Check(); err != nil {
		t.Error(err)
	}
	if len(doc.Payments) != 300 || doc.MsgID != "RT" {
		t.Fatalf("read %d payments, MsgID %q", len(doc.Payments), doc.MsgID)
	}
	byID := map[string]Payment{}
	for _, p := range doc.Payments {
		byID[p.ID] = p
	}
	for _, want := range pays {
		got := byID[want.ID]
		if got.Amount != want.Amount || got.Creditor.IBAN != want.Creditor.IBAN || got.Debtor.IBAN != want.Debtor.IBAN ||
			got.Remittance != want.Remittance || got.CreditorReference != want.CreditorReference || got.BudgetCode != want.BudgetCode ||
			got.ExecutionDate != want.ExecutionDate {
			t.Fatalf("round trip of %s:\n got %+v\nwant %+v", want.ID, got, want)
		}
	}
	if _, _, err := mustProfile(t, "iso2019").ValidatePayments(doc.Payments); err != nil {
		t.Errorf("re-validating read payments: %v", err)
	}
	broken := bytes.Replace(res.Files[0].Data, []byte("<NbOfTxs>300</NbOfTxs>"), []byte("<NbOfTxs>301</NbOfTxs>"), 1)
	doc, err = ReadPain001(bytes.NewReader(broken), Limits{})
	if err != nil || doc.Check() == nil {
		t.Errorf("wrong NbOfTxs not caught (err %v)", err)
	}
}

func TestEncodePain001CtrlSumDigits(t *testing.T) {
	pays := variedPayments(20)
	for i := range pays {
		pays[i].Amount = "9999999999999999.99" // 18 digits each: the sum has 19
		pays[i].Debtor = pays[0].Debtor
		pays[i].ExecutionDate = pays[0].ExecutionDate
	}
	_, err := mustProfile(t, "iso2019").EncodePain001(Pain001Request{MsgID: "BIG", Now: fixedClock, Payments: pays})
	var ve ValidationErrors
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "more than 18 digits") {
		t.Fatalf("EncodePain001(huge) = %v, want an 18-digit CtrlSum error", err)
	}
	if ve[0].Index != -1 || strings.HasPrefix(ve[0].Error(), "payment") {
		t.Errorf("batch-level error %q", ve[0].Error())
	}
}

// TestEncodePain001Modes: address lines mode, transliteration, budget code
// placements and group_by all stay schema-valid.
func TestEncodePain001Modes(t *testing.T) {
	for _, tt := range []struct {
		name, profile, xsd string
		mod                func(*Profile)
		check              func(t *testing.T, doc *etree.Document)
	}{
		{"lines", "ekase", Pain001V03, func(p *Profile) { p.AddressMode = "lines" }, func(t *testing.T, doc *etree.Document) {
			if len(doc.FindElements("//StrtNm")) != 0 || len(doc.FindElements("//Cdtr/PstlAdr/AdrLine")) == 0 {
				t.Error("lines mode wrote structured addresses")
			}
		}},
		{"no addresses", "iso2019", Pain001V09, func(p *Profile) { p.AddressMode = "none" }, func(t *testing.T, doc *etree.Document) {
			if len(doc.FindElements("//PstlAdr")) != 0 {
				t.Error("address mode none wrote addresses")
			}
		}},
		{"budget as purpose", "ekase", Pain001V03, func(p *Profile) {
			p.BudgetCode.Placement = "purpose_proprietary"
		}, func(t *testing.T, doc *etree.Document) {
			if len(doc.FindElements("//Purp/Prtry")) == 0 || len(doc.FindElements("//Tax")) != 0 {
				t.Error("budget code not in Purp/Prtry")
			}
		}},
		{"budget in remittance", "iso2019", Pain001V09, func(p *Profile) {
			p.BudgetCode.Placement = "additional_remittance"
		}, func(t *testing.T, doc *etree.Document) {
			if len(doc.FindElements("//RmtInf/Strd/AddtlRmtInf")) == 0 {
				t.Error("budget code not in AddtlRmtInf")
			}
		}},
		{"group by budget code", "ekase", Pain001V03, func(p *Profile) { p.GroupBy = []string{"budget_code"} }, func(t *testing.T, doc *etree.Document) {
			for _, pi := range doc.FindElements("//PmtInf") {
				codes := map[string]bool{}
				for _, c := range pi.FindElements(".//CdtTrfTxInf") {
					codes[c.FindElement("./Tax/Rcrd/Ctgy").NotNil().Text()] = true
				}
				if len(codes) != 1 {
					t.Errorf("PmtInf mixes budget codes %v", codes)
				}
			}
		}},
		{"service level and charge bearer v03", "ekase", Pain001V03, func(p *Profile) { p.ServiceLevel, p.ChargeBearer = "SEPA", "SLEV" },
			func(t *testing.T, doc *etree.Document) {
				if doc.FindElement("//PmtInf/PmtTpInf/SvcLvl/Cd").NotNil().Text() != "SEPA" || doc.FindElement("//PmtInf/ChrgBr").NotNil().Text() != "SLEV" {
					t.Error("SvcLvl/ChrgBr missing")
				}
			}},
		{"service level and charge bearer v09", "iso2019", Pain001V09, func(p *Profile) { p.ServiceLevel, p.ChargeBearer = "NURG", "SHAR" },
			func(t *testing.T, doc *etree.Document) {}},
		{"sepa transliterated", "ekase", Pain001V03, func(p *Profile) {
			p.Charset.Allowed, p.Charset.OnInvalid = CharsetSEPA, CharsetTransliterate
		}, func(t *testing.T, doc *etree.Document) {
			s, _ := doc.WriteToString()
			if strings.ContainsAny(s, latvianLetters) {
				t.Error("Latvian letters left in a SEPA-charset file")
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := mustProfile(t, tt.profile)
			tt.mod(p)
			pays := variedPayments(200)
			for i := range pays {
				if p.BudgetCode.Placement == "purpose_proprietary" {
					pays[i].Purpose = ""
				}
			}
			res, err := p.EncodePain001(Pain001Request{MsgID: "MODE", Now: fixedClock, Payments: pays})
			if err != nil {
				t.Fatal(err)
			}
			if p.Charset.OnInvalid == CharsetTransliterate && len(res.Changes) == 0 {
				t.Error("no transliteration reported")
			}
			doc := etree.NewDocument()
			if err := doc.ReadFromBytes(res.Files[0].Data); err != nil {
				t.Fatal(err)
			}
			tt.check(t, doc)
			validateXSD(t, res.Files[0].Data, tt.xsd)
		})
	}
}
