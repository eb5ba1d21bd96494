// Package certstore keeps the gateway's x509 client certificates and keys,
// serves them to TLS clients with hot reload, watches their expiry and
// prepares their renewal, so that no certificate expires silently.
//
// # Store
//
// A [Store] is a directory holding, per [Ref] (organisation id, environment
// "test" or "production", purpose such as "ekase" or "vero"), the current
// pair, the previous pair (kept for rollback and served until a renewed
// certificate is activated), a pending key and CSR while a request is under
// way, and the state saying which pair is live and why:
//
//	DIR/ORG/ENV/PURPOSE/state.json
//	DIR/ORG/ENV/PURPOSE/pairs/ID/{cert.pem,key.pem}
//	DIR/ORG/ENV/PURPOSE/pending/{key.pem,csr.pem,request.json,responses/,cert.pem}
//	DIR/ORG/ENV/PURPOSE/expiry.json
//
// Every write is atomic (temporary file, fsync, rename, fsync of the
// directory); files are 0600 and directories 0700; an advisory lock per Ref
// serialises processes. Private keys are encrypted PKCS#8 (PBES2:
// PBKDF2-HMAC-SHA256, [DefaultKDFIterations] iterations, AES-256-CBC), which
// `openssl pkey -passin` reads. A plain key is written or read only with
// [Options].AllowPlainKey (the CLI's --insecure-plain-key).
//
// # Import
//
// [ParsePEM] and [ParsePKCS12] (including OpenSSL 3's AES-256 PKCS#12) read a
// pair; [Store.Import] refuses a key that does not match ([ErrKeyMismatch])
// and a certificate outside its validity ([*ExpiryError], matching
// [ErrExpired] or [ErrNotYetValid]) and reports both at once. A wrong
// PKCS#12 password or store passphrase gives [ErrWrongPassphrase].
//
// # TLS
//
// [Store.Source] returns a [Source] whose GetClientCertificate serves the
// live pair from an atomic pointer. Store changes made through the same
// Store reload it before they return; [Source.Run] picks up changes made by
// another process. A failed reload keeps the last good pair and is reported
// by [Source.LastError] and the logger. [Source.ClientConfig] pins the server
// CA and requires TLS 1.2.
//
// # Expiry
//
// A [Watcher] sets the gauge isogate_cert_expiry_seconds{org,env,purpose,slot}
// and sends an [ExpiryEvent] to an [EventSink] once per threshold
// ([DefaultThresholds]: 60, 30, 14, 7, 1 days), remembered in expiry.json
// across restarts. The gateway wires the sink to ops.cert.expiring, using
// ExpiryEvent.ID as Nats-Msg-Id.
//
// # Renewal and activation
//
// [Store.NewPending] makes a key and CSR ([ParseSubject], [KeyAlgorithm]);
// the vero subpackage runs the Vero certificate service flow on top of it.
// [Store.Promote] makes a verified certificate current with an
// [Activation]: until its time the previous pair stays live
// ([ActivationPolicy] computes the next business day). [Store.SetLive]
// serves the previous pair again when a server refuses the new one, and
// [Store.Rollback] swaps current and previous. [Store.Status] reports it all.
//
// certstore imports nothing else of this repository.
package certstore
