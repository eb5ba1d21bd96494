package xmlcodec

import (
	"fmt"
	"io"
)

// camtGen streams a generated camt.053.001.02 of about size bytes without
// holding it in memory: one statement, entries of one TxDtls each, with
// parties, references and remittance (about 1.2 KB per entry).
type camtGen struct {
	size    int64
	written int64
	buf     []byte
	n       int   // entries written
	stage   int   // 0 head, 1 entries, 2 tail, 3 done
	credit  int64 // cents, for checking
	debit   int64
}

func newCamtGen(size int64) *camtGen { return &camtGen{size: size} }

const genHead = `<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <BkToCstmrStmt>
    <GrpHdr>
      <MsgId>GEN-STMT-0001</MsgId>
      <CreDtTm>2026-11-21T06:00:00+02:00</CreDtTm>
    </GrpHdr>
    <Stmt>
      <Id>GEN-0001</Id>
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

const genEntry = `      <Ntry>
        <NtryRef>%[1]d</NtryRef>
        <Amt Ccy="EUR">%[2]d.%02[3]d</Amt>
        <CdtDbtInd>%[4]s</CdtDbtInd>
        <Sts>BOOK</Sts>
        <BookgDt><Dt>2026-11-20</Dt></BookgDt>
        <ValDt><Dt>2026-11-20</Dt></ValDt>
        <AcctSvcrRef>TREL-%012[1]d</AcctSvcrRef>
        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
        <NtryDtls>
          <TxDtls>
            <Refs>
              <MsgId>MSG-%[1]d</MsgId>
              <PmtInfId>PMT-%[1]d</PmtInfId>
              <EndToEndId>E2E-%010[1]d</EndToEndId>
              <TxId>TX-%[1]d</TxId>
            </Refs>
            <AmtDtls><TxAmt><Amt Ccy="EUR">%[2]d.%02[3]d</Amt></TxAmt></AmtDtls>
            <RltdPties>
              <Dbtr><Nm>Jānis Bērziņš %[1]d</Nm></Dbtr>
              <DbtrAcct><Id><IBAN>LV80BANK0000435195001</IBAN></Id></DbtrAcct>
              <Cdtr><Nm>Finanšu ministrija</Nm></Cdtr>
              <CdtrAcct><Id><IBAN>LV84TREL2190456001000</IBAN></Id></CdtrAcct>
            </RltdPties>
            <RltdAgts><DbtrAgt><FinInstnId><BIC>HABALV22</BIC></FinInstnId></DbtrAgt></RltdAgts>
            <RmtInf>
              <Ustrd>Rēķins Nr. %[1]d par pakalpojumiem, līgums 2026/%[1]d</Ustrd>
              <Strd><CdtrRefInf><Ref>RF18INV%[1]d</Ref></CdtrRefInf></Strd>
            </RmtInf>
            <Tax><Rcrd><Ctgy>2231</Ctgy></Rcrd></Tax>
          </TxDtls>
        </NtryDtls>
      </Ntry>
`

const genTail = `    </Stmt>
  </BkToCstmrStmt>
</Document>
`

func (g *camtGen) Read(p []byte) (int, error) {
	for len(g.buf) == 0 {
		switch g.stage {
		case 0:
			g.buf = append(g.buf[:0], genHead...)
			g.stage = 1
		case 1:
			if g.written >= g.size-int64(len(genTail)) {
				g.stage = 2
				continue
			}
			g.n++
			units, cents := int64(1+(g.n*7919)%99999), int64((g.n*37)%100)
			cd := "CRDT"
			if g.n%3 == 0 {
				cd = "DBIT"
				g.debit += units*100 + cents
			} else {
				g.credit += units*100 + cents
			}
			g.buf = fmt.Appendf(g.buf[:0], genEntry, g.n, units, cents, cd)
		case 2:
			g.buf = append(g.buf[:0], genTail...)
			g.stage = 3
		default:
			return 0, io.EOF
		}
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	g.written += int64(n)
	return n, nil
}

func cents(c int64) string { return fmt.Sprintf("%d.%02d", c/100, c%100) }
