// Package certsim simulates the Vero certificate service for tests and
// demos (isogate certsim): the same SOAP over HTTPS, certificates from its
// own [CA] with a two-year lifetime, one-time transfer ids, responses
// signed with RSA-SHA256 by a certificate of that CA, renewal requests
// whose signature it verifies (the signer must be a certificate it issued
// to the same customer). Fault injection: [Server.DropResponses] loses
// answers after processing, Config.Mangle certifies a wrong subject or key,
// Config.ReadyAfter delays availability. State is in memory only.
//
// certsim also serves tests as a small CA ([NewCA], [CA.Issue]).
package certsim
