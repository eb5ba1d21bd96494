package vero

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/beevik/etree"
)

// The Vero / Incomes Register certificate service, SOAP 1.1.
const (
	Namespace     = "http://certificates.vero.fi/2017/10/certificateservices"
	SOAPNamespace = "http://schemas.xmlsoap.org/soap/envelope/"
	ProductionURL = "https://pkiws.vero.fi/2017/10/CertificateServices"
	TestURL       = "https://pkiws-testi.vero.fi/2017/10/CertificateServices"
)

// Operations, named as in the SOAPAction header.
const (
	OpSignNewCertificate = "signNewCertificate"
	OpGetCertificate     = "getCertificate"
	OpRenewCertificate   = "renewCertificate"
)

// Field limits of the service schema.
const (
	MaxTransferID       = 32
	MaxTransferPassword = 16
	MaxCustomerID       = 30
	MaxCustomerName     = 100
	MaxRetrievalID      = 32
	maxResponse         = 1 << 20
)

// elementName returns the request or response element name of op:
// "signNewCertificate" → "SignNewCertificateRequest".
func elementName(op, suffix string) string {
	return strings.ToUpper(op[:1]) + op[1:] + suffix
}

// A Field is one child element of a request or response, in order.
type Field struct{ Name, Value string }

// NewPayload builds the application element of op (suffix "Request" or
// "Response") in the service namespace, with unqualified children as the
// service schema has them. It declares its own namespace so that it can be
// signed on its own.
func NewPayload(op, suffix string, fields []Field) *etree.Element {
	el := etree.NewElement("cer:" + elementName(op, suffix))
	el.CreateAttr("xmlns:cer", Namespace)
	for _, f := range fields {
		el.CreateElement(f.Name).SetText(f.Value)
	}
	return el
}

// Envelope wraps payload in a SOAP 1.1 envelope and serialises it without
// indentation (a signed payload must stay byte-for-byte as signed).
func Envelope(payload *etree.Element) ([]byte, error) {
	env := etree.NewElement("soapenv:Envelope")
	env.CreateAttr("xmlns:soapenv", SOAPNamespace)
	env.CreateElement("soapenv:Header")
	env.CreateElement("soapenv:Body").AddChild(payload)
	return serialize(env)
}

// Fault builds a SOAP 1.1 fault envelope.
func Fault(code, message string) []byte {
	env := etree.NewElement("soapenv:Envelope")
	env.CreateAttr("xmlns:soapenv", SOAPNamespace)
	f := env.CreateElement("soapenv:Body").CreateElement("soapenv:Fault")
	f.CreateElement("faultcode").SetText(code)
	f.CreateElement("faultstring").SetText(message)
	b, _ := serialize(env)
	return b
}

// A FaultError is a SOAP fault returned by the service.
type FaultError struct{ Code, Message string }

func (e *FaultError) Error() string { return "vero: SOAP fault " + e.Code + ": " + e.Message }

// ParseEnvelope parses a SOAP message and returns the single element in
// its Body, which must be want (e.g. "SignNewCertificateResponse") in the
// service namespace. A Fault is returned as *FaultError.
func ParseEnvelope(data []byte, want string) (*etree.Element, error) {
	el, err := ParseBody(data)
	if err != nil {
		return nil, err
	}
	if el.Tag != want || el.NamespaceURI() != Namespace {
		return nil, fmt.Errorf("vero: SOAP Body holds {%s}%s, want {%s}%s", el.NamespaceURI(), el.Tag, Namespace, want)
	}
	return el, nil
}

// ParseBody parses a SOAP message and returns the single element in its
// Body, whatever it is; a Fault is returned as *FaultError.
func ParseBody(data []byte) (*etree.Element, error) {
	if len(data) > maxResponse {
		return nil, fmt.Errorf("vero: message of %d bytes exceeds %d", len(data), maxResponse)
	}
	if bytes.Contains(data, []byte("<!DOCTYPE")) || bytes.Contains(data, []byte("<!ENTITY")) {
		return nil, errors.New("vero: message contains a DTD")
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(data); err != nil {
		return nil, fmt.Errorf("vero: parsing SOAP message: %w", err)
	}
	root := doc.Root()
	if root == nil || root.Tag != "Envelope" || root.NamespaceURI() != SOAPNamespace {
		return nil, errors.New("vero: not a SOAP 1.1 envelope")
	}
	var body *etree.Element
	for _, c := range root.ChildElements() {
		if c.Tag == "Body" && c.NamespaceURI() == SOAPNamespace {
			body = c
		}
	}
	if body == nil || len(body.ChildElements()) != 1 {
		return nil, errors.New("vero: SOAP Body must hold exactly one element")
	}
	el := body.ChildElements()[0]
	if el.Tag == "Fault" && el.NamespaceURI() == SOAPNamespace {
		return nil, &FaultError{Code: childText(el, "faultcode"), Message: childText(el, "faultstring")}
	}
	return el, nil
}

// ChildText returns the text of el's first child named local (any
// namespace), trimmed.
func ChildText(el *etree.Element, local string) string { return childText(el, local) }

func childText(el *etree.Element, local string) string {
	for _, c := range el.ChildElements() {
		if c.Tag == local {
			return strings.TrimSpace(c.Text())
		}
	}
	return ""
}

// A ResultError is a response whose Result/Status is not OK.
type ResultError struct {
	Op      string
	Status  string
	Code    string // e.g. "PKI003"
	Message string
}

func (e *ResultError) Error() string {
	return fmt.Sprintf("vero: %s answered %s: %s %s", e.Op, e.Status, e.Code, e.Message)
}

// resultOf checks Result/Status of a response payload.
func resultOf(op string, el *etree.Element) error {
	var res *etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag == "Result" {
			res = c
		}
	}
	if res == nil {
		return fmt.Errorf("vero: %s response has no Result", op)
	}
	status := childText(res, "Status")
	if status == "OK" {
		return nil
	}
	e := &ResultError{Op: op, Status: status}
	for _, c := range res.ChildElements() {
		if c.Tag == "ErrorInfo" {
			e.Code, e.Message = childText(c, "ErrorCode"), childText(c, "ErrorMessage")
			break
		}
	}
	return e
}

// ResultFields returns the Result element fields for a response.
func ResultFields(code, message string) *etree.Element {
	res := etree.NewElement("Result")
	if code == "" {
		res.CreateElement("Status").SetText("OK")
		return res
	}
	res.CreateElement("Status").SetText("FAIL")
	ei := res.CreateElement("ErrorInfo")
	ei.CreateElement("ErrorCode").SetText(code)
	ei.CreateElement("ErrorMessage").SetText(message)
	return res
}

func decodeBase64(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
}
