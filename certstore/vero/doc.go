// Package vero is a client of the Finnish Tax Administration's (Vero) and
// Incomes Register's certificate service (SOAP 1.1, namespace
// http://certificates.vero.fi/2017/10/certificateservices): signNewCertificate
// with one-time transfer credentials, getCertificate by RetrievalId, and
// renewCertificate signed with the current key (enveloped XML signature,
// exclusive C14N, RSA-SHA256, the current certificate in KeyInfo).
//
// A [Flow] runs enrolment and renewal for one certstore.Ref and persists
// every step in the store's pending area: the request state before each
// network call, and each raw response before it is parsed. A lost answer
// therefore never wastes the transfer credentials: a recorded RetrievalId is
// fetched on [Flow.Resume] without sending the transfer id again. The
// transfer password is never written anywhere. Responses are accepted only
// with a valid signature by a certificate chaining to Config.TrustedCAs, and
// an issued certificate only if it is for the pending key and the expected
// subject (CN = business id) and chains to the same CAs.
//
// A [Renewer] renews automatically from 60 days before expiry, retries
// with backoff (one hour doubling to a day), applies the purpose's
// certstore.ActivationPolicy (Vero answers a new production certificate
// only after it fetched it, in practice from the next business day) and
// activates early once a probe call succeeds. An expired certificate cannot
// be renewed: [ErrRenewalImpossible]; enrol again.
package vero
