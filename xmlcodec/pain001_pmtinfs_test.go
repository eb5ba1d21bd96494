package xmlcodec

import (
	"bytes"
	"fmt"
	"testing"
)

// TestPain001FilePmtInfs: the PmtInf blocks an encoded file lists are the
// ones its bytes hold, as ReadPain001 reads them back — ids, counts and
// which payments each block holds, in document order — for files of many
// blocks (several debtors and dates, blocks cut by MaxTxPerPmtInf, the
// batch split into files) and for a file of one block.
func TestPain001FilePmtInfs(t *testing.T) {
	oneBlock := variedPayments(7)
	for i := range oneBlock {
		oneBlock[i].Debtor = oneBlock[0].Debtor
		oneBlock[i].ExecutionDate = oneBlock[0].ExecutionDate
	}
	for _, tt := range []struct {
		name              string
		profile           string
		perFile, perBlock int
		msgID             string
		pays              []Payment
		wantFiles         int
		wantBlocks        int // in the first file
	}{
		{name: "several blocks", profile: "ekase", perBlock: 4, msgID: "PMTINFS-1", pays: variedPayments(60), wantFiles: 1, wantBlocks: 18},
		{name: "split files", profile: "iso2019", perFile: 25, perBlock: 3, msgID: "PMTINFS-2", pays: variedPayments(60), wantFiles: 3, wantBlocks: 11},
		{name: "long msg id", profile: "ekase", perBlock: 2, msgID: "PMTINFS-34567890123456789012345678", pays: variedPayments(24), wantFiles: 1, wantBlocks: 15},
		{name: "one block", profile: "ekase", msgID: "PMTINFS-3", pays: oneBlock, wantFiles: 1, wantBlocks: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := mustProfile(t, tt.profile)
			if tt.perFile > 0 {
				p.Limits.MaxTxPerFile = tt.perFile
			}
			p.Limits.MaxTxPerPmtInf = tt.perBlock
			res, err := p.EncodePain001(Pain001Request{MsgID: tt.msgID, Now: fixedClock, Payments: tt.pays})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Files) != tt.wantFiles {
				t.Fatalf("EncodePain001(%s) wrote %d files, want %d", tt.name, len(res.Files), tt.wantFiles)
			}
			if got := len(res.Files[0].PmtInfs); got != tt.wantBlocks {
				t.Errorf("file 1 lists %d PmtInf blocks, want %d", got, tt.wantBlocks)
			}
			for n, f := range res.Files {
				doc, err := ReadPain001(bytes.NewReader(f.Data), Limits{})
				if err != nil {
					t.Fatalf("file %d: ReadPain001: %v", n+1, err)
				}
				var got, want []string
				for _, pi := range f.PmtInfs {
					got = append(got, fmt.Sprintf("%s×%d", pi.ID, pi.Count))
				}
				for _, pi := range doc.PmtInfs {
					want = append(want, fmt.Sprintf("%s×%d", pi.ID, pi.Count))
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("file %d: PmtInfs\n got %v\nwant %v (read back)", n+1, got, want)
				}
				if len(f.PaymentIDs) != len(doc.Payments) {
					t.Fatalf("file %d: %d payment ids, %d payments read back", n+1, len(f.PaymentIDs), len(doc.Payments))
				}
				// Block by block, the payments each block holds.
				sum, i := 0, 0
				for _, pi := range f.PmtInfs {
					if pi.Count < 1 || len(pi.ID) > 35 {
						t.Errorf("file %d: block %+v: want a count ≥ 1 and an id of ≤ 35 characters", n+1, pi)
					}
					sum += pi.Count
					for range pi.Count {
						if i < len(doc.Payments) && f.PaymentIDs[i] != doc.Payments[i].ID {
							t.Errorf("file %d: payment %d of block %s is %s, read back %s", n+1, i, pi.ID, f.PaymentIDs[i], doc.Payments[i].ID)
						}
						i++
					}
				}
				if sum != f.NbOfTxs || sum != len(f.PaymentIDs) {
					t.Errorf("file %d: block counts sum to %d, NbOfTxs %d, %d payment ids", n+1, sum, f.NbOfTxs, len(f.PaymentIDs))
				}
			}
		})
	}
}
