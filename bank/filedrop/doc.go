// Package filedrop is the [bank.Channel] for host-to-host setups where
// files are exchanged through folders: an SFTP mount, or the bank's
// connectivity software picking files up and dropping answers.
//
// # Folders
//
//	Outbox/<MsgId>.xml                 pain.001 and camt.060 files for the bank
//	Inbox/*.xml                        pain.002 and camt.052/053/054 from the bank
//	Archive/sent/<MsgId>.xml           a copy of every file handed over
//	Archive/status/<OrgnlMsgId>/…      the pain.002s received for a file
//	Archive/reports/<camt.060 MsgId>/… the camt documents returned for a request (refused/: the bank's refusal)
//
// A MsgId becomes a file name with letters, digits, '-', '_' and '.'
// kept and every other byte written %XX.
//
// # Writing
//
// Submit writes a hidden temporary file (".<MsgId>.xml.<random>.tmp") in
// the outbox and fsyncs it, writes the archive copy atomically, renames
// the temporary file to <MsgId>.xml and fsyncs the outbox: the bank side
// sees a complete file or none. Submitting a MsgId already in the outbox
// or the archive with the same bytes is a no-op success (a crash between
// the archive copy and the rename is finished by it); with other bytes it
// is [bank.ErrDuplicate].
//
// # Reading
//
// Only complete documents are read: hidden names and temporary suffixes
// (.tmp, .part, .partial, .filepart, ~ …) are never opened, only *.xml is
// considered, and a file must decode to the end as a pain.002 or camt
// document — a truncated one stays in the inbox until it is whole. A
// pain.002 is matched to its file by OrgnlMsgId and moved to
// Archive/status; Status answers with the newest one (by the time the
// bank wrote it, then by progress), passing over a duplicate-upload
// rejection (GrpSts RJCT, reason DUPL), which answers a second copy, not
// the file. A camt document is matched to its camt.060 by
// GrpHdr/OrgnlBizQry/MsgId or by a name starting "<request file name>."
// (banksim's "REQ-1.xml.camt.053.xml"); one that answers no request goes to
// the next Reports call. Reports returns every document filed for its
// request, again on a repeated call (de-duplicate by content); the
// camt.060 itself is handed over once. A file that is not XML and is named
// after the request ("<MsgId>.xml.error.txt", banksim's convention) is the
// bank's refusal: Reports returns [bank.ErrPermanent] with its text, and
// keeps it under Archive/reports/<MsgId>/refused/. Other non-XML files in
// the inbox are left alone.
//
// # In-doubt handling
//
// A file drop cannot tell "not yet processed" from "never received":
// Status returns [bank.ErrUnknownToBank] until a pain.002 comes back,
// however long the bank takes. This is safe because the hand-over is
// local and atomic, so an in-doubt batch is settled by re-sending the
// same bytes — a no-op when the file was already handed over, a
// hand-over when it was not. Submit is never ErrOutcomeUnknown except
// when fsync of the outbox fails after the rename; a re-send settles that
// too. Waiting for the bank's answer is the status poller's job (with a
// deadline after which an operator looks).
//
// One process owns the folders (the gateway's batch state machine already
// serialises work per batch).
package filedrop
