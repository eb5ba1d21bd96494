package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/xmlcodec"
)

// benchPayments builds n deterministic payments valid for every built-in
// profile (so the Latvian charset: Latvian letters and apostrophes, no
// other markup characters): three Treasury debtors, structured addresses,
// ultimate parties, purposes, budget codes, creditor references.
func benchPayments(n int) []xmlcodec.Payment {
	debtors := []xmlcodec.Account{
		{Name: "Finanšu ministrija", IBAN: messages.ComposeIBAN("LV", "TREL2190456001000")},
		{Name: "Rīgas valstspilsētas pašvaldība", IBAN: messages.ComposeIBAN("LV", "TREL9800000123450"),
			Address: &xmlcodec.Address{Street: "Rātslaukums", Building: "1", Postcode: "LV-1050", Town: "Rīga", Country: "LV"}},
		{Name: "Valsts ieņēmumu dienests", IBAN: messages.ComposeIBAN("LV", "TREL1060000000001"), BIC: "TRELLV22"},
	}
	names := []string{"SIA Ķekava Būve", "Jānis Bērziņš", "AS Latvijas Gāze", "Žanis Ēķis", "Ģirts Ļoļa", "SIA Ūdens Ņirbas",
		"O'Brien Baltic SIA", "Čaklā bite", "Pēteris Šķēle", "SIA 'Zaļā josta'"}
	purposes := []string{"", "SALA", "SUPP", "GOVT", "TAXS", "Dotācija 2026"}
	budget := []string{"", "2231", "1100", "2279", "3262"}
	out := make([]xmlcodec.Payment, n)
	for i := range out {
		p := xmlcodec.Payment{
			ID:            fmt.Sprintf("BENCH-E2E-%08d", i+1),
			Debtor:        debtors[i%len(debtors)],
			Creditor:      xmlcodec.Account{Name: names[i%len(names)], IBAN: messages.ComposeIBAN("LV", fmt.Sprintf("HABA%013d", 550000000+i*7919))},
			Amount:        fmt.Sprintf("%d.%02d", 1+(i*7919)%250000, (i*37)%100),
			Currency:      "EUR",
			ExecutionDate: fmt.Sprintf("2026-11-%02d", 23+(i/3)%3),
			Purpose:       purposes[i%len(purposes)],
			BudgetCode:    budget[i%len(budget)],
		}
		switch i % 4 {
		case 0:
			p.Remittance = fmt.Sprintf("Rēķins Nr. %d, līgums %d/2026 (piegāde)", 1000+i, i%97)
		case 1:
			p.CreditorReference = rf(fmt.Sprintf("INV%08d", i))
		case 2:
			p.Remittance = strings.Repeat("Ā", 10) + " maksājums par pakalpojumiem, kas sniegti saskaņā ar līgumu"
			p.CreditorReference = rf(fmt.Sprintf("X%d", i))
		}
		if i%5 == 0 {
			p.Creditor.BIC = "HABALV22"
			p.Creditor.Address = &xmlcodec.Address{Street: "Brīvības iela", Building: fmt.Sprint(1 + i%200), Postcode: "LV-1010", Town: "Rīga", Country: "LV"}
		}
		if i%11 == 0 {
			p.UltimateDebtor = &xmlcodec.Party{Name: "Izglītības un zinātnes ministrija", ID: "90000022399"}
		}
		if i%13 == 0 {
			p.UltimateCreditor = &xmlcodec.Party{Name: "Pēteris Šķēle", Address: &xmlcodec.Address{Lines: []string{"Daugavpils, Saules iela 5"}, Country: "LV"}}
		}
		out[i] = p
	}
	return out
}

// camtGenStats is what writeBenchCamt wrote.
type camtGenStats struct {
	bytes        int64
	entries, txs int
}

type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

const benchCamtHead = `<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <BkToCstmrStmt>
    <GrpHdr>
      <MsgId>BENCH-STMT-0001</MsgId>
      <CreDtTm>2026-11-21T06:00:00+02:00</CreDtTm>
    </GrpHdr>
    <Stmt>
      <Id>BENCH-0001</Id>
      <ElctrncSeqNb>1</ElctrncSeqNb>
      <CreDtTm>2026-11-21T06:00:00+02:00</CreDtTm>
      <Acct>
        <Id>
          <IBAN>LV84TREL2190456001000</IBAN>
        </Id>
        <Ccy>EUR</Ccy>
      </Acct>
      <Bal>
        <Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp>
        <Amt Ccy="EUR">1000000.00</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Dt><Dt>2026-11-20</Dt></Dt>
      </Bal>
`

const benchCamtTail = `    </Stmt>
  </BkToCstmrStmt>
</Document>
`

// Names as they appear in the file: Latvian letters, and markup characters
// written as entity references.
var benchCamtNames = []string{"Jānis Bērziņš", "SIA &quot;Ķekava &amp; Partneri&quot;", "Finanšu ministrija", "Žanis Ēķis",
	"AS &lt;Latvijas Gāze&gt;", "Ģirts Ļoļa", "O&apos;Brien Baltic SIA", "Čaklā bite"}

func benchAmount(n int) (units, cents int) { return 1 + (n*7919)%99999, (n * 37) % 100 }

// writeBenchCamt writes a camt.053.001.02 of about size bytes: one
// statement whose entries cycle through single payments (half of them),
// batch bookings of 10 to 100 TxDtls, reversals with a return reason,
// entries with charges, and entries with proprietary codes and ultimate
// parties.
func writeBenchCamt(w io.Writer, size int64) (camtGenStats, error) {
	cw := &countingWriter{w: w}
	var st camtGenStats
	io.WriteString(cw, benchCamtHead)
	for n := 1; cw.err == nil && cw.n < size-int64(len(benchCamtTail)); n++ {
		st.entries++
		st.txs += writeBenchEntry(cw, n)
	}
	io.WriteString(cw, benchCamtTail)
	st.bytes = cw.n
	return st, cw.err
}

// writeBenchEntry writes entry n and returns its number of TxDtls.
func writeBenchEntry(w io.Writer, n int) int {
	kind := n % 10
	name := benchCamtNames[n%len(benchCamtNames)]
	cd := "CRDT"
	if n%3 == 0 {
		cd = "DBIT"
	}
	units, cents := benchAmount(n)
	ntxs := 1
	if kind == 5 || kind == 6 {
		ntxs = 10 + (n*7)%91
		cd = "DBIT"
		total := 0
		for k := range ntxs {
			u, c := benchAmount(n*1000 + k)
			total += u*100 + c
		}
		units, cents = total/100, total%100
	}
	if kind == 7 {
		cd = "CRDT"
	}
	fmt.Fprintf(w, "      <Ntry>\n        <NtryRef>%d</NtryRef>\n        <Amt Ccy=\"EUR\">%d.%02d</Amt>\n        <CdtDbtInd>%s</CdtDbtInd>\n", n, units, cents, cd)
	if kind == 7 {
		io.WriteString(w, "        <RvslInd>true</RvslInd>\n")
	}
	fmt.Fprintf(w, "        <Sts>BOOK</Sts>\n        <BookgDt><Dt>2026-11-20</Dt></BookgDt>\n        <ValDt><Dt>2026-11-20</Dt></ValDt>\n        <AcctSvcrRef>TREL-%012d</AcctSvcrRef>\n", n)
	if kind == 9 {
		io.WriteString(w, "        <BkTxCd><Prtry><Cd>NTRF+123</Cd><Issr>VK</Issr></Prtry></BkTxCd>\n")
	} else {
		fam := "RCDT"
		if cd == "DBIT" {
			fam = "ICDT"
		}
		fmt.Fprintf(w, "        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>%s</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>\n", fam)
	}
	if kind == 8 {
		io.WriteString(w, "        <Chrgs><Amt Ccy=\"EUR\">1.50</Amt><CdtDbtInd>DBIT</CdtDbtInd><Tp><Cd>COMM</Cd></Tp><Br>DEBT</Br></Chrgs>\n"+
			"        <Chrgs><Amt Ccy=\"EUR\">0.35</Amt><Tp><Prtry><Id>SWIFT</Id></Prtry></Tp></Chrgs>\n")
	}
	io.WriteString(w, "        <NtryDtls>\n")
	if ntxs > 1 {
		fmt.Fprintf(w, "          <Btch><NbOfTxs>%d</NbOfTxs></Btch>\n", ntxs)
	}
	for k := range ntxs {
		writeBenchTx(w, n, k, kind, cd, name, ntxs > 1)
	}
	io.WriteString(w, "        </NtryDtls>\n")
	if kind == 8 || kind == 7 {
		fmt.Fprintf(w, "        <AddtlNtryInf>Komisija &amp; maksa par pārskaitījumu Nr. %d</AddtlNtryInf>\n", n)
	}
	io.WriteString(w, "      </Ntry>\n")
	return ntxs
}

func writeBenchTx(w io.Writer, n, k, kind int, cd, name string, batch bool) {
	units, cents := benchAmount(n)
	if batch {
		units, cents = benchAmount(n*1000 + k)
		name = benchCamtNames[(n+k)%len(benchCamtNames)]
	}
	fmt.Fprintf(w, "          <TxDtls>\n            <Refs>\n              <MsgId>MSG-%d</MsgId>\n              <AcctSvcrRef>TREL-%012d-%d</AcctSvcrRef>\n"+
		"              <PmtInfId>PMT-%d-1</PmtInfId>\n              <EndToEndId>E2E-%010d-%d</EndToEndId>\n              <TxId>TX-%d-%d</TxId>\n            </Refs>\n",
		n, n, k, n, n, k, n, k)
	fmt.Fprintf(w, "            <AmtDtls><InstdAmt><Amt Ccy=\"EUR\">%[1]d.%02[2]d</Amt></InstdAmt><TxAmt><Amt Ccy=\"EUR\">%[1]d.%02[2]d</Amt></TxAmt></AmtDtls>\n", units, cents)
	if kind == 8 {
		io.WriteString(w, "            <Chrgs><Amt Ccy=\"EUR\">1.50</Amt><CdtDbtInd>DBIT</CdtDbtInd><Tp><Cd>COMM</Cd></Tp></Chrgs>\n")
	}
	io.WriteString(w, "            <RltdPties>\n")
	if cd == "CRDT" {
		fmt.Fprintf(w, "              <Dbtr><Nm>%s</Nm></Dbtr>\n              <DbtrAcct><Id><IBAN>LV80BANK0000435195001</IBAN></Id></DbtrAcct>\n", name)
		if kind == 9 {
			io.WriteString(w, "              <UltmtDbtr><Nm>Izglītības un zinātnes ministrija</Nm><Id><OrgId><Othr><Id>90000022399</Id></Othr></OrgId></Id></UltmtDbtr>\n")
		}
		io.WriteString(w, "              <Cdtr><Nm>Finanšu ministrija</Nm></Cdtr>\n              <CdtrAcct><Id><IBAN>LV84TREL2190456001000</IBAN></Id></CdtrAcct>\n")
	} else {
		io.WriteString(w, "              <Dbtr><Nm>Finanšu ministrija</Nm></Dbtr>\n              <DbtrAcct><Id><IBAN>LV84TREL2190456001000</IBAN></Id></DbtrAcct>\n")
		fmt.Fprintf(w, "              <Cdtr><Nm>%s</Nm><Id><PrvtId><Othr><Id>PK-%d</Id></Othr></PrvtId></Id></Cdtr>\n"+
			"              <CdtrAcct><Id><Othr><Id>ACC-%d-%d</Id></Othr></Id></CdtrAcct>\n", name, n%1000, n, k)
	}
	io.WriteString(w, "            </RltdPties>\n")
	if cd == "CRDT" {
		io.WriteString(w, "            <RltdAgts><DbtrAgt><FinInstnId><BIC>HABALV22</BIC></FinInstnId></DbtrAgt></RltdAgts>\n")
	} else {
		io.WriteString(w, "            <RltdAgts><CdtrAgt><FinInstnId><BIC>UNLALV2X</BIC></FinInstnId></CdtrAgt></RltdAgts>\n")
	}
	if kind == 9 {
		io.WriteString(w, "            <Purp><Cd>GOVT</Cd></Purp>\n")
	}
	fmt.Fprintf(w, "            <RmtInf>\n              <Ustrd>Rēķins Nr. %[1]d par pakalpojumiem, līgums 2026/%[1]d</Ustrd>\n", n)
	if k%2 == 0 {
		fmt.Fprintf(w, "              <Ustrd>daļa %d</Ustrd>\n", k+1)
	}
	fmt.Fprintf(w, "              <Strd><CdtrRefInf><Ref>RF18INV%d</Ref></CdtrRefInf></Strd>\n            </RmtInf>\n", n)
	io.WriteString(w, "            <Tax><Rcrd><Ctgy>2231</Ctgy></Rcrd></Tax>\n")
	if kind == 7 {
		io.WriteString(w, "            <RtrInf><Rsn><Cd>AC04</Cd></Rsn><AddtlInf>Konts slēgts</AddtlInf><AddtlInf>atmaksa &amp; komisija</AddtlInf></RtrInf>\n")
	}
	if kind == 9 {
		io.WriteString(w, "            <AddtlTxInf>Budžeta ieņēmumi</AddtlTxInf>\n")
	}
	io.WriteString(w, "          </TxDtls>\n")
}

// rf is the ISO 11649 creditor reference of ref: the same mod 97-10 check
// digits as an IBAN's, country "RF".
func rf(ref string) string { return messages.ComposeIBAN("RF", ref) }
