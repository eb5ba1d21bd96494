package banksim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
)

const isoNS = "urn:iso:std:iso:20022:tech:xsd:"

// pain002 encodes f's status at t in the profile's pain.002 version
// (pain.002.001.03 or .10; both share the element names used here). The
// document of one stage is the same bytes whenever it is asked for: its
// MsgId and CreDtTm are those of the stage, not of the request.
func (b *Bank) pain002(f *file, t time.Time) ([]byte, error) {
	if _, _, details := f.stage(t); !details {
		return b.pain002Of(f, t, nil), nil
	}
	blocks, err := b.blocks(f)
	if err != nil {
		return nil, err
	}
	return b.pain002Of(f, t, blocks), nil
}

// pain002Of is pain002 with f's transaction details given: nil when the
// stage shows none (a rejected file's never do).
func (b *Bank) pain002Of(f *file, t time.Time, blocks []*block) []byte {
	grp, at, details := f.stage(t)
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	root := doc.CreateElement("Document")
	root.CreateAttr("xmlns", isoNS+b.prof.Messages.Pain002)
	rpt := root.CreateElement("CstmrPmtStsRpt")

	h := sha256.Sum256([]byte(f.msgID + "\x00" + f.sha))
	gh := rpt.CreateElement("GrpHdr")
	addText(gh, "MsgId", "BSIM-"+hex.EncodeToString(h[:])[:16]+"-"+grp)
	addText(gh, "CreDtTm", isoDateTime(at))
	// The bank as DbtrAgt (GroupHeader36/86 allow it; it names who reports).
	b.agent(gh.CreateElement("DbtrAgt"))

	og := rpt.CreateElement("OrgnlGrpInfAndSts")
	addText(og, "OrgnlMsgId", f.msgID)
	addText(og, "OrgnlMsgNmId", f.msgName)
	if n, err := strconv.Atoi(f.nbOfTxs); err == nil && n >= 0 && len(f.nbOfTxs) <= 15 {
		addText(og, "OrgnlNbOfTxs", f.nbOfTxs)
	}
	if fitsDecimal(f.ctrlSum, 17) {
		addText(og, "OrgnlCtrlSum", f.ctrlSum)
	}
	addText(og, "GrpSts", grp)
	for _, r := range f.rejected {
		addReason(og, r)
	}
	if details {
		settled := !t.Before(f.settleAt)
		for _, bl := range blocks {
			pi := rpt.CreateElement("OrgnlPmtInfAndSts")
			addText(pi, "OrgnlPmtInfId", bl.id)
			if _, err := strconv.Atoi(bl.nbOfTxs); err == nil && len(bl.nbOfTxs) <= 15 {
				addText(pi, "OrgnlNbOfTxs", bl.nbOfTxs)
			}
			if fitsDecimal(bl.ctrlSum, 17) {
				addText(pi, "OrgnlCtrlSum", bl.ctrlSum)
			}
			ok := 0
			for _, x := range bl.txs {
				if x.rejected == nil {
					ok++
				}
			}
			okSts := "ACSP"
			if settled {
				okSts = "ACSC"
			}
			switch {
			case ok == 0:
				addText(pi, "PmtInfSts", "RJCT")
			case ok < len(bl.txs):
				addText(pi, "PmtInfSts", "PART")
			default:
				addText(pi, "PmtInfSts", okSts)
			}
			for _, x := range bl.txs {
				ti := pi.CreateElement("TxInfAndSts")
				addText(ti, "OrgnlEndToEndId", x.e2e)
				if x.rejected != nil {
					addText(ti, "TxSts", "RJCT")
					addReason(ti, *x.rejected)
				} else {
					addText(ti, "TxSts", okSts)
					addText(ti, "AcctSvcrRef", acctSvcrRef(f.settleAt, x.seq))
				}
				if fitsDecimal(x.amount, 5) && ccyRE.MatchString(x.ccy) {
					amt := ti.CreateElement("OrgnlTxRef").CreateElement("Amt").CreateElement("InstdAmt")
					amt.CreateAttr("Ccy", x.ccy)
					amt.SetText(x.amount)
				}
			}
		}
	}
	return write(doc)
}

// agent writes the bank's BIC (FinInstnId/BIC in .03 messages, BICFI in
// later ones).
func (b *Bank) agent(e *etree.Element) {
	fi := e.CreateElement("FinInstnId")
	if b.v2() {
		addText(fi, "BIC", b.bic())
	} else {
		addText(fi, "BICFI", b.bic())
	}
}

func (b *Bank) bic() string { return first(b.prof.Debtor.BIC, "TRELLV22") }

// v2 reports whether the bank speaks the 2009 message set (pain.002.001.03,
// camt.05x.001.02).
func (b *Bank) v2() bool { return b.prof.Messages.Pain002 == "pain.002.001.03" }

func addReason(parent *etree.Element, r reason) {
	s := parent.CreateElement("StsRsnInf")
	addText(s.CreateElement("Rsn"), "Cd", r.code)
	if r.info != "" {
		addText(s, "AddtlInf", truncRunes(r.info, 105))
	}
}

func addText(parent *etree.Element, tag, text string) *etree.Element {
	if text == "" {
		return nil
	}
	e := parent.CreateElement(tag)
	e.SetText(text)
	return e
}

func isoDateTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func write(doc *etree.Document) []byte {
	doc.Indent(2)
	var buf bytes.Buffer
	_, _ = doc.WriteTo(&buf) // a bytes.Buffer does not fail
	return buf.Bytes()
}

// fitsDecimal reports whether s is a decimal the schema's DecimalNumber
// (maxFrac 17) or ActiveOrHistoricCurrencyAndAmount (maxFrac 5) accepts:
// at most 18 digits in all. What the bank echoes must stay valid.
func fitsDecimal(s string, maxFrac int) bool {
	if _, ok := rat(s); !ok {
		return false
	}
	ip, frac, _ := strings.Cut(s, ".")
	return len(frac) <= maxFrac && len(ip)+len(frac) <= 18
}
