package h2h

import (
	"errors"
	"net"
	"net/http"

	"github.com/isogate/isogate/bank"
)

// This file is the whole HTTP mapping of the adapter: which request each
// operation sends (with Config.Paths and Config.ContentType) and which
// class each answer and transport outcome gets. Adapting the adapter to a
// bank whose interface description differs in status codes means editing
// these functions only.

// Requests.
const (
	methodSubmit  = http.MethodPost // body: the pain.001
	methodStatus  = http.MethodGet
	methodReports = http.MethodPost // body: the camt.060
	methodHealth  = http.MethodGet
)

// transportClass classifies a request that got no HTTP answer (dial,
// TLS handshake, reset, timeout, connection closed). Only an upload whose
// body the transport began to send can have arrived: bodySent is false
// when not one byte of the body was handed to the connection.
func transportClass(op string, bodySent bool) bank.Class {
	if op == bank.OpSubmit && bodySent {
		return bank.OutcomeUnknown
	}
	return bank.Transient
}

// refusedCertificate reports whether err is the server's TLS alert
// refusing our client certificate. With TLS 1.3 the client finishes its
// handshake and writes the request before the server has checked the
// certificate, so the alert comes after the body went out — but a server
// that refuses the handshake never hands the request to the application:
// nothing was processed.
func refusedCertificate(err error) bool {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "remote error" || op.Err == nil {
		return false
	}
	switch op.Err.Error() { // crypto/tls alert texts (RFC 8446 §6.2)
	case "tls: bad certificate", "tls: unsupported certificate", "tls: revoked certificate",
		"tls: expired certificate", "tls: unknown certificate", "tls: unknown certificate authority",
		"tls: access denied", "tls: certificate required":
		return true
	}
	return false
}

// submitClass classifies the answer to an upload; 0 means accepted (2xx,
// then the receipt must parse, else the outcome is unknown). bodySent is
// false when the server answered before asking for the body (it refused
// "Expect: 100-continue" with a final status).
func submitClass(code int, bodySent bool) bank.Class {
	switch {
	case code >= 500 && !bodySent:
		// Answered before a byte of the file was sent: it cannot have
		// the file.
		return bank.Transient
	case code >= 200 && code < 300:
		return 0
	case code == http.StatusConflict: // 409: a pain.002 with GrpSts RJCT, reason DUPL
		return bank.Duplicate
	case code == http.StatusRequestTimeout, code == http.StatusTooEarly, code == http.StatusTooManyRequests:
		// 408, 425, 429: refused before processing; nothing was kept.
		return bank.Transient
	case code >= 500:
		// The body went out and the bank failed while or after reading
		// it: it may have kept the file. Settle with Status.
		return bank.OutcomeUnknown
	default:
		// 400 (a pain.002 with the reasons), 401/403 (certificate or
		// signature refused), 404/405 (wrong path), 413, 415, 422, 3xx:
		// the same bytes will be refused again.
		return bank.Permanent
	}
}

// statusClass classifies the answer to a status query; 0 means a
// pain.002 (200), which must then decode.
func statusClass(code int) bank.Class {
	switch {
	case code == http.StatusOK:
		return 0
	case code == http.StatusNotFound:
		return bank.UnknownToBank
	default:
		return readClass(code)
	}
}

// reportsClass classifies the answer to a camt.060; 0 means a camt
// document (200), which must then decode, or nothing (204).
func reportsClass(code int) bank.Class {
	switch code {
	case http.StatusOK, http.StatusNoContent:
		return 0
	default:
		return readClass(code)
	}
}

// healthClass classifies the answer to a health check; 0 means healthy.
func healthClass(code int) bank.Class {
	if code >= 200 && code < 300 {
		return 0
	}
	return readClass(code)
}

// readClass classifies the other answers to requests that change nothing
// at the bank (status, reports, health): asking again is always safe.
// Another 2xx than the one expected carries nothing to read: ask again.
func readClass(code int) bank.Class {
	switch {
	case code >= 200 && code < 300:
		return bank.Transient
	case code == http.StatusRequestTimeout, code == http.StatusTooEarly, code == http.StatusTooManyRequests, code >= 500:
		return bank.Transient
	default:
		return bank.Permanent
	}
}
