package engine

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/cohort-mpc/cohort/ledger"
)

// Checkpointer is the aggregator's ledger as witnessing needs it: it signs
// checkpoints, proves consistency between sizes and keeps the cosignatures
// the sites send back. *ledger.Log implements it.
type Checkpointer interface {
	PublicKey() ed25519.PublicKey
	Checkpoint(ctx context.Context) ([]byte, error)
	CheckpointAt(size uint64) ([]byte, error)
	ConsistencyProof(size1, size2 uint64) ([][]byte, error)
	AddCosignature(ctx context.Context, size uint64, witnessKey string, sigs []byte) error
}

// Witness is a site's ledger as a witness of its aggregator's log: it checks
// a checkpoint against the last one it cosigned and returns its
// cosignature. *ledger.Log implements it.
type Witness interface {
	AddCheckpoint(ctx context.Context, logKey ed25519.PublicKey, req *ledger.AddCheckpointRequest) ([]byte, error)
}

var (
	_ Checkpointer = (*ledger.Log)(nil)
	_ Witness      = (*ledger.Log)(nil)
)

// CosignStatus is a site's answer to a checkpoint.
type CosignStatus uint8

const (
	// Cosigned: Cosignature holds the witness's signature line.
	Cosigned CosignStatus = iota
	// CosignConflict: the request's old size is not the witness's; Latest
	// is the size it last cosigned, to retry from.
	CosignConflict
	// CosignRefused: the witness refused (not a witness, or an inconsistent
	// checkpoint); Reason says why.
	CosignRefused
)

// CosignReply is the body of a KindCosignature message.
type CosignReply struct {
	Status      CosignStatus
	Cosignature []byte // Cosigned
	Latest      uint64 // CosignConflict
	Reason      string // CosignRefused
}

// MarshalBinary encodes the reply.
func (c *CosignReply) MarshalBinary() ([]byte, error) {
	w := wbuf{b: []byte{bodyVersion, byte(c.Status)}}
	switch c.Status {
	case Cosigned:
		w.bytes(c.Cosignature)
	case CosignConflict:
		w.u64(c.Latest)
	case CosignRefused:
		w.bytes([]byte(c.Reason))
	default:
		return nil, fmt.Errorf("engine: cosign reply status %d", c.Status)
	}
	return w.b, nil
}

// maxCosignature bounds a witness's signature lines.
const maxCosignature = 4 << 10

// UnmarshalBinary decodes a reply.
func (c *CosignReply) UnmarshalBinary(b []byte) error {
	r := rbuf{b: b, what: "cosign reply"}
	r.version()
	*c = CosignReply{Status: CosignStatus(r.u8("status"))}
	switch c.Status {
	case Cosigned:
		c.Cosignature = r.bytes("cosignature", maxCosignature)
	case CosignConflict:
		c.Latest = r.u64("latest")
	case CosignRefused:
		c.Reason = string(r.bytes("reason", MaxName))
	default:
		r.fail("status %d", c.Status)
	}
	return r.done()
}

// cosign asks every accepted, connected site to witness the aggregator's
// ledger at its current checkpoint (after the job's last entry), retrying
// once from the size a witness says it last cosigned. It returns the
// checkpoint with the cosignatures collected. Witnessing is best effort: a
// site that does not answer leaves the checkpoint with fewer cosignatures,
// and the job's result stands.
func (r *run) cosign(ctx context.Context) ([]byte, error) {
	cp := r.a.cfg.Checkpoints
	signed, err := cp.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	c, _, err := ledger.OpenCheckpoint(signed, ledger.LogVerifier(cp.PublicKey()))
	if err != nil {
		return nil, err
	}
	round := uint32(r.job.Rounds + 2)
	want := r.accepted()
	olds := make(map[uint32]uint64, len(want))
	for attempt := uint32(0); attempt < 2 && len(want) > 0; attempt++ {
		var sent []uint32
		for _, s := range want {
			old := r.a.witnessedSize(r.roster[s].Key)
			if attempt > 0 {
				old = olds[s]
			}
			if old > c.Size {
				r.a.log.Warn("a witness has cosigned a larger checkpoint of this ledger than it has", "site", r.roster[s].Name,
					"witnessed", old, "size", c.Size)
				continue
			}
			req := &ledger.AddCheckpointRequest{Old: old, Checkpoint: signed}
			if old > 0 && old < c.Size {
				if req.Proof, err = cp.ConsistencyProof(old, c.Size); err != nil {
					return nil, err
				}
			}
			body, err := req.MarshalBinary()
			if err != nil {
				return nil, err
			}
			if conn := r.a.conn(r.roster[s].Key); conn != nil &&
				conn.Send(ctx, &Message{Job: r.st.ID, Kind: KindCheckpoint, Round: round, Attempt: attempt, Body: body}) == nil {
				sent = append(sent, s)
			}
		}
		var retry []uint32
		_, err := r.collect(ctx, round, attempt, KindCosignature, sent, r.job.Deadlines.Setup, "cosign", func(s uint32, b []byte) error {
			var rep CosignReply
			if err := rep.UnmarshalBinary(b); err != nil {
				return err
			}
			switch rep.Status {
			case CosignConflict:
				olds[s] = rep.Latest
				retry = append(retry, s)
				return errors.New("witness is at another size; retrying")
			case CosignRefused:
				return fmt.Errorf("witness refused: %s", rep.Reason)
			}
			if err := cp.AddCosignature(ctx, c.Size, ledger.WitnessKey(r.roster[s].Key), rep.Cosignature); err != nil {
				return err
			}
			r.a.setWitnessed(r.roster[s].Key, c.Size)
			return nil
		})
		if err != nil {
			return nil, err
		}
		want = retry
	}
	return cp.CheckpointAt(c.Size)
}

// witness answers the aggregator's checkpoint with this site's
// cosignature, a conflict, or a refusal.
func (s *Site) witness(ctx context.Context, agg Peer, m *Message) ([]*Message, error) {
	var rep CosignReply
	var req ledger.AddCheckpointRequest
	switch err := req.UnmarshalBinary(m.Body); {
	case err != nil:
		rep = CosignReply{Status: CosignRefused, Reason: "malformed request"}
	case s.cfg.Witness == nil:
		rep = CosignReply{Status: CosignRefused, Reason: "this site is not a witness"}
	case len(agg.Key) != ed25519.PublicKeySize:
		rep = CosignReply{Status: CosignRefused, Reason: "the aggregator has no Ed25519 key on this connection"}
	default:
		sig, err := s.cfg.Witness.AddCheckpoint(ctx, agg.Key, &req)
		var conflict *ledger.ConflictError
		switch {
		case err == nil:
			rep = CosignReply{Status: Cosigned, Cosignature: sig}
		case errors.As(err, &conflict):
			rep = CosignReply{Status: CosignConflict, Latest: conflict.Latest}
		default:
			s.log.Warn("refused to cosign the aggregator's checkpoint", "aggregator", agg.Name, "err", err)
			rep = CosignReply{Status: CosignRefused, Reason: truncate(err.Error(), MaxName)}
		}
	}
	body, err := rep.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return []*Message{{Job: m.Job, Kind: KindCosignature, Round: m.Round, Attempt: m.Attempt, Body: body}}, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
