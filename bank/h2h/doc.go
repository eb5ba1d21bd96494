// Package h2h is the [bank.Channel] for ISO 20022 over HTTPS with client
// certificates (mutual TLS), the way the Latvian State Treasury (eKase)
// and most banks' host-to-host APIs work.
//
// # HTTP mapping
//
// The whole mapping is in mapping.go (methods, status codes, classes) and
// [Config] (base URL, paths, content type). The defaults are banksim's:
//
//	Submit   POST {BaseURL}/v1/payments                 body pain.001 (Content-Type: application/xml, Expect: 100-continue)
//	                                                    → 202 {"msg_id","received_at","sha256"}; 400 + pain.002; 409 + pain.002 DUPL
//	Status   GET  {BaseURL}/v1/payments/{msgId}/status  → 200 + pain.002; 404 never received
//	Reports  POST {BaseURL}/v1/reports                  body camt.060 → 200 + camt.052/053/054; 204 nothing
//	Health   GET  {BaseURL}/v1/health                   → 2xx
//
// The classes of every answer and transport failure are in the table of
// package bank. Redirects are never followed; no proxy is taken from the
// environment; HTTP/1.1 only.
//
// # Configuring it for the Treasury (or another bank)
//
// From the interface description: set BaseURL to the service's https
// address (a path prefix is allowed), Paths to its four endpoints
// (Status must contain {msgId}: the MsgId is path-escaped into it), and
// ContentType if it wants e.g. "text/xml". Pin its server CA (certstore
// LoadCAPool → Source.ClientConfig) and import the organisation's client
// certificate into certstore (Ref purpose "ekase"); renewals are picked up
// without restarting. If the Treasury requires the "authentication
// functions" on each document, set Sign to "xmldsig". If its status codes
// differ from the table (say 422 instead of 409 for a duplicate MsgId; any
// 2xx already counts as an accepted upload), change submitClass,
// statusClass or reportsClass in mapping.go: nothing else knows HTTP. A
// receipt body other than banksim's JSON is the one other place
// (Client.Submit). Check the result with Health and a test upload against
// the Treasury's test environment before production.
//
// # Signing (sign: xmldsig)
//
// Each uploaded document gets an enveloped XML signature as the last
// child of <Document>: exclusive C14N, RSA-SHA256 or ECDSA-SHA256 after
// the key, SHA-256 digest, Reference URI="" (the whole document), KeyInfo
// with the certificate chain, made with the key certstore serves now
// (Config.Signer, typically Source.Certificate). The document is otherwise
// sent as given, byte for byte, and never re-indented (that breaks the
// signature).
//
// A re-send must be byte-identical, and signing is not repeatable: ECDSA
// signatures differ every time, and the certificate may be renewed between
// an upload and its re-send. So h2h signs once and keeps the signed bytes:
// Submit remembers them in memory, per MsgId and unsigned content, until
// the upload succeeds or is refused for good, so in-process retries resend
// the same bytes; and [Client.Prepare] returns them, so the submitter can archive
// the signed file before the first upload and re-send exactly that after a
// restart (Submit sends an already-signed document unchanged).
//
// # Connections
//
// Uploads use a new connection each (no keep-alive): a request written to
// a connection the server had already closed as idle would be
// indistinguishable from one the bank may have read. The body is sent only
// after "100 Continue" (or after one second without an answer; a server
// that answers 417 Expectation Failed gets the upload again without the
// header), and the
// adapter counts the body bytes the transport took, so "nothing of the
// body was sent" is known, not guessed. Status, reports and health reuse
// connections. Config.Timeout bounds each request from dial to the last
// byte of the answer.
//
// A new connection resumes a TLS session (TLS 1.3 PSK with a fresh key
// exchange, or a TLS 1.2 ticket) instead of a full handshake, unless
// Config.DisableSessionResumption is set. A resumed handshake sends no
// client certificate: the bank takes the identity from the ticket. So the
// sessions are kept per client certificate (the SHA-256 of its DER): a
// connection resumes only a session made with the certificate certstore
// serves now, and a session is filed under the certificate its own
// handshake presented. After a renewal, rollback or activation the next
// connection resumes a session of the certificate now live if it has one
// (after a rollback), else does a full handshake with it: never one of a
// certificate no longer served.
package h2h
