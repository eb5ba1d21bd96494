// Package xmlcodec encodes and decodes the ISO 20022 messages isogate
// exchanges with a bank: pain.001 credit transfers and camt.060 account
// reporting requests out; pain.002 status reports and camt.052/053/054
// statements in.
//
// Encoding is driven by a [Profile] (data, embedded as YAML and overridable):
// it names message versions, limits, the character-set policy and required
// fields for one bank. [Profile.EncodePain001] validates every payment first
// and reports every problem at once as [ValidationErrors]; output is
// deterministic (same payments, same clock, same bytes) and CtrlSum is the
// exact sum of InstdAmt.
//
// Decoding streams: [NewDecoder] reads a document token by token with
// encoding/xml and builds one small etree subtree per entry, balance or
// status, so memory stays bounded whatever the file's size. Any DOCTYPE is
// refused ([ErrDoctype]); input size, nesting depth, token size and attribute
// count are capped ([Limits]). Every error the decoder returns is a
// [*DecodeError] naming the element path, wrapping a sentinel such as
// [ErrTooDeep] or [ErrUnsupportedMessage].
//
// The package imports nothing else of isogate.
package xmlcodec
