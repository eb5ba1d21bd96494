package messages

import "strings"

// The code tables below are data, kept in one place so that a change of a
// standard is a one-line diff. Each comment names the source and the release
// the table follows.

// currencyTable lists the active ISO 4217 codes (Table A.1, currencies and
// funds, as amended through amendment 178 and the euro changeover of Bulgaria
// on 2026-01-01) with their minor units: "EUR2" means two decimal places.
//
// Not listed, on purpose:
//   - withdrawn codes: ANG (replaced by XCG, amendment 176), BGN (euro from
//     2026-01-01), CUC (amendment 178), HRK (euro from 2023-01-01), SLL
//     (replaced by SLE), ZWL (replaced by ZWG, amendment 177), and older ones;
//   - codes whose minor unit is "N.A.": precious metals (XAU, XAG, XPD, XPT),
//     bond market units (XBA–XBD), XDR, XSU, XUA, the testing code XTS and
//     XXX. They are not amounts a credit transfer can carry.
const currencyTable = `
AED2 AFN2 ALL2 AMD2 AOA2 ARS2 AUD2 AWG2 AZN2
BAM2 BBD2 BDT2 BHD3 BIF0 BMD2 BND2 BOB2 BOV2 BRL2 BSD2 BTN2 BWP2 BYN2 BZD2
CAD2 CDF2 CHE2 CHF2 CHW2 CLF4 CLP0 CNY2 COP2 COU2 CRC2 CUP2 CVE2 CZK2
DJF0 DKK2 DOP2 DZD2
EGP2 ERN2 ETB2 EUR2
FJD2 FKP2
GBP2 GEL2 GHS2 GIP2 GMD2 GNF0 GTQ2 GYD2
HKD2 HNL2 HTG2 HUF2
IDR2 ILS2 INR2 IQD3 IRR2 ISK0
JMD2 JOD3 JPY0
KES2 KGS2 KHR2 KMF0 KPW2 KRW0 KWD3 KYD2 KZT2
LAK2 LBP2 LKR2 LRD2 LSL2 LYD3
MAD2 MDL2 MGA2 MKD2 MMK2 MNT2 MOP2 MRU2 MUR2 MVR2 MWK2 MXN2 MXV2 MYR2 MZN2
NAD2 NGN2 NIO2 NOK2 NPR2 NZD2
OMR3
PAB2 PEN2 PGK2 PHP2 PKR2 PLN2 PYG0
QAR2
RON2 RSD2 RUB2 RWF0
SAR2 SBD2 SCR2 SDG2 SEK2 SGD2 SHP2 SLE2 SOS2 SRD2 SSP2 STN2 SVC2 SYP2 SZL2
THB2 TJS2 TMT2 TND3 TOP2 TRY2 TTD2 TWD2 TZS2
UAH2 UGX0 USD2 USN2 UYI0 UYU2 UYW4 UZS2
VED2 VES2 VND0 VUV0
WST2
XAF0 XCD2 XCG2 XOF0 XPF0
YER2
ZAR2 ZMW2 ZWG2
`

// ibanTable lists the countries of the SWIFT IBAN Registry (release 100,
// 89 countries) with the length of their IBANs: "LV21" means a Latvian
// IBAN has 21 characters. Territories that the registry files under another
// country (Åland under FI, the French overseas departments under FR, Jersey,
// Guernsey and Man under GB) use that country's prefix and are not listed.
const ibanTable = `
AD24 AE23 AL28 AT20 AZ28
BA20 BE16 BG22 BH22 BI27 BR29 BY28
CH21 CR22 CY28 CZ24
DE22 DJ27 DK18 DO28
EE20 EG29 ES24
FI18 FK18 FO18 FR27
GB22 GE22 GI23 GL18 GR27 GT28
HN28 HR21 HU28
IE22 IL23 IQ23 IS26 IT27
JO30
KW30 KZ20
LB28 LC32 LI21 LT20 LU20 LV21 LY25
MC27 MD24 ME22 MK19 MN20 MR27 MT31 MU30
NI28 NL18 NO15
OM23
PK24 PL28 PS29 PT25
QA29
RO24 RS22 RU33
SA24 SC31 SD18 SE24 SI19 SK24 SM27 SO23 ST25 SV28
TL23 TN24 TR26
UA29
VA22 VG24
XK20
YE30
`

// countryTable lists the ISO 3166-1 alpha-2 country codes (249 officially
// assigned codes) plus XK, the user-assigned code that SWIFT (BIC) and the
// IBAN registry use for Kosovo: a payment to a Kosovar account carries it.
const countryTable = `
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
DE DJ DK DM DO DZ
EC EE EG EH ER ES ET
FI FJ FK FM FO FR
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY
HK HM HN HR HT HU
ID IE IL IM IN IO IQ IR IS IT
JE JM JO JP
KE KG KH KI KM KN KP KR KW KY KZ
LA LB LC LI LK LR LS LT LU LV LY
MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
NA NC NE NF NG NI NL NO NP NR NU NZ
OM
PA PE PF PG PH PK PL PM PN PR PS PT PW PY
QA
RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ
UA UG UM US UY UZ
VA VC VE VG VI VN VU
WF WS
XK
YE YT
ZA ZM ZW
`

var (
	currencyMinor = codeNumbers(currencyTable, 3)
	ibanLengths   = codeNumbers(ibanTable, 2)
	countries     = codeSet(countryTable)
)

// codeNumbers reads a table of entries such as "EUR2" or "LV21": a code of
// codeLen letters followed by a decimal number.
func codeNumbers(table string, codeLen int) map[string]int {
	m := make(map[string]int)
	for _, f := range strings.Fields(table) {
		n := 0
		for _, c := range f[codeLen:] {
			n = n*10 + int(c-'0')
		}
		m[f[:codeLen]] = n
	}
	return m
}

func codeSet(table string) map[string]bool {
	m := make(map[string]bool)
	for _, f := range strings.Fields(table) {
		m[f] = true
	}
	return m
}

// CurrencyMinorUnits reports the number of decimal places ISO 4217 gives the
// active currency code (2 for EUR, 0 for JPY, 3 for BHD), and false when code
// is not an active ISO 4217 currency this gateway can pay in.
func CurrencyMinorUnits(code string) (int, bool) {
	n, ok := currencyMinor[code]
	return n, ok
}

// KnownCountry reports whether code is an ISO 3166-1 alpha-2 country code
// (upper case), or XK (Kosovo, as used by SWIFT and the IBAN registry).
func KnownCountry(code string) bool {
	return countries[code]
}

// IBANLength reports the length of an IBAN of the country (from the SWIFT
// IBAN registry), and false when the country does not use IBANs.
func IBANLength(country string) (int, bool) {
	n, ok := ibanLengths[country]
	return n, ok
}
