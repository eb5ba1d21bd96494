package h2h

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/isogate/isogate/bank"
)

// Prepare returns the bytes Submit uploads for file: with sign: none the
// file itself; with sign: xmldsig the document with an enveloped XML
// signature made with the live certstore key — or the file itself when it
// already carries one (preparing twice changes nothing). Archive the
// prepared bytes before the first Submit to be able to re-send them
// byte for byte after a restart.
func (c *Client) Prepare(_ context.Context, file bank.File) (bank.File, error) {
	data, err := c.prepare(file)
	if err != nil {
		return bank.File{}, err
	}
	return bank.File{MsgID: file.MsgID, Data: data}, nil
}

// prepare signs file once per process: a second Submit of the same
// unsigned file re-sends the bytes signed the first time (an ECDSA
// signature differs at every signing, and the certificate may have been
// renewed in between), until an upload succeeds or is refused for good.
func (c *Client) prepare(file bank.File) ([]byte, error) {
	if c.cfg.Sign != SignXMLDSig {
		return file.Data, nil
	}
	key := cacheKey(file)
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.signed[key]; ok {
		return b, nil
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(file.Data); err != nil {
		return nil, &bank.Error{Op: bank.OpSubmit, MsgID: file.MsgID, Class: bank.Permanent, Err: fmt.Errorf("reading the file to sign: %w", err)}
	}
	root := doc.Root()
	if root == nil || root.Tag != "Document" {
		return nil, &bank.Error{Op: bank.OpSubmit, MsgID: file.MsgID, Class: bank.Permanent, Err: errors.New("signing: root element is not <Document>")}
	}
	for _, ch := range root.ChildElements() {
		if ch.Tag == "Signature" && ch.NamespaceURI() == dsig.Namespace {
			return file.Data, nil // prepared before
		}
	}
	cert, err := c.cfg.Signer()
	if err == nil && cert == nil {
		err = errors.New("no certificate")
	}
	if err != nil {
		// The store may serve a pair again after a reload: retry.
		return nil, &bank.Error{Op: bank.OpSubmit, MsgID: file.MsgID, Class: bank.Transient, Err: fmt.Errorf("getting the signing key: %w", err)}
	}
	if err := signElement(root, cert); err != nil {
		return nil, &bank.Error{Op: bank.OpSubmit, MsgID: file.MsgID, Class: bank.Permanent, Err: err}
	}
	// Written as read, not re-indented: indenting after signing breaks
	// the signature.
	out, err := doc.WriteToBytes()
	if err != nil {
		return nil, &bank.Error{Op: bank.OpSubmit, MsgID: file.MsgID, Class: bank.Permanent, Err: err}
	}
	c.signed[key] = out
	return out, nil
}

// forget drops the signed copy of file once it needs no re-sending.
func (c *Client) forget(file bank.File) {
	if c.cfg.Sign != SignXMLDSig {
		return
	}
	c.mu.Lock()
	delete(c.signed, cacheKey(file))
	c.mu.Unlock()
}

func cacheKey(file bank.File) string {
	sum := sha256.Sum256(file.Data)
	return file.MsgID + "\x00" + string(sum[:])
}

// signElement appends an enveloped signature to el (the <Document>):
// exclusive C14N without comments, RSA-SHA256 or ECDSA-SHA256 after the
// key, SHA-256 digest, Reference URI="" (el has no ID attribute), KeyInfo
// with the certificate chain, leaf first.
func signElement(el *etree.Element, cert *tls.Certificate) error {
	key, ok := cert.PrivateKey.(crypto.Signer)
	if !ok {
		return fmt.Errorf("signing: private key %T cannot sign", cert.PrivateKey)
	}
	if len(cert.Certificate) == 0 {
		return errors.New("signing: no certificate to include")
	}
	ctx, err := dsig.NewSigningContext(key, cert.Certificate)
	if err != nil {
		return fmt.Errorf("signing: %w", err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	ctx.Prefix = "ds"
	ctx.Hash = crypto.SHA256
	// goxmldsig's canonicalizer edits the element it digests (it drops
	// namespace declarations exclusive C14N leaves out, such as an unused
	// xmlns:xsi): digest a copy, so the document sent is the original plus
	// the signature and nothing else.
	sig, err := ctx.ConstructSignature(el.Copy(), true)
	if err != nil {
		return fmt.Errorf("signing %s: %w", el.Tag, err)
	}
	el.AddChild(sig)
	return nil
}
