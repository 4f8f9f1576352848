package ledger

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/cohort-mpc/cohort/identity"
)

// Summary describes an event in one line, for people reading a ledger.
func Summary(ev Event) string {
	switch e := ev.(type) {
	case *Note:
		return fmt.Sprintf("%d bytes: %s", len(e.Data), quoteShort(e.Data))
	case *JobProposed:
		return fmt.Sprintf("job %v %q, %s, %d sites, seed %d, file %x…", e.Job, e.Name, e.Mode, len(e.Roster), e.Seed, e.FileHash[:6])
	case *SiteDecided:
		if e.Accept {
			return fmt.Sprintf("job %v: %s accepted with %d rows", e.Job, partyName(e.Site), e.Rows)
		}
		return fmt.Sprintf("job %v: %s refused: %s", e.Job, partyName(e.Site), e.Reason)
	case *RoundCommitted:
		names := make([]string, len(e.Contributors))
		for i, p := range e.Contributors {
			names[i] = partyName(p)
			if i < len(e.Epsilon) && !math.IsNaN(e.Epsilon[i]) {
				names[i] += " (ε " + strconv.FormatFloat(e.Epsilon[i], 'f', 2, 64) + ")"
			}
		}
		return fmt.Sprintf("job %v round %d (attempt %d): model %x…, contributors %s", e.Job, e.Round, e.Attempt, e.ModelHash[:6], strings.Join(names, ", "))
	case *JobFinished:
		if e.Err != "" {
			return fmt.Sprintf("job %v failed after %d rounds: %s", e.Job, e.Rounds, e.Err)
		}
		return fmt.Sprintf("job %v finished after %d rounds: model %x…, accuracy %.3f, AUC %.3f, loss %.4f", e.Job, e.Rounds, e.ModelHash[:6], e.Accuracy, e.AUC, e.Loss)
	case *BudgetSpent:
		return fmt.Sprintf("job %v: ε %g (δ %g) spent on %q, %g in all", e.Job, e.Epsilon, e.Delta, e.Dataset, e.Total)
	case *CheckpointCosigned:
		name, _, _ := strings.Cut(e.Witness, "+")
		return fmt.Sprintf("checkpoint %d (%x…) cosigned by %s", e.Size, e.Root[:6], name)
	case *AnchorPublished:
		return fmt.Sprintf("checkpoint %d (%x…) anchored on %s:%d in tx 0x%x… at block %d", e.Size, e.Root[:6], e.Chain, e.ChainID, e.Tx[:6], e.Block)
	case *Witnessed:
		return fmt.Sprintf("witnessed %s at %d (%x…)", e.Origin, e.Size, e.Root[:6])
	case *WitnessAlarm:
		return fmt.Sprintf("ALARM: refused a checkpoint of %s: %s", e.Origin, e.Reason)
	}
	return ev.EntryType().String()
}

func partyName(p Party) string {
	if len(p.Key) == 32 {
		did := identity.DID(p.Key)
		return fmt.Sprintf("%s (%s…)", p.Name, did[:len("did:key:")+10])
	}
	return p.Name
}

func quoteShort(b []byte) string {
	if len(b) > 60 {
		return strconv.Quote(string(b[:60])) + "…"
	}
	return strconv.Quote(string(b))
}
