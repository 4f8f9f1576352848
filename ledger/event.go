package ledger

import (
	"crypto/ed25519"
	"encoding"
	"fmt"
	"time"
)

// JobID names a job (the engine's job ID).
type JobID [16]byte

func (id JobID) String() string { return fmt.Sprintf("%x", id[:]) }

// Party is a node taking part in a job: its name and Ed25519 key.
type Party struct {
	Name string
	Key  ed25519.PublicKey
}

// Type is the type of a ledger entry's body.
type Type uint8

// Entry types. Values are part of the wire format (docs/wire/ledger.md) and
// never reused.
const (
	TypeNote               Type = 1  // free-form bytes from the operator
	TypeJobProposed        Type = 2  // an aggregator proposed a job
	TypeSiteDecided        Type = 3  // a site accepted or refused a job
	TypeRoundCommitted     Type = 4  // a round's model was committed
	TypeJobFinished        Type = 5  // a job ended, with its result or its failure
	TypeBudgetSpent        Type = 6  // a site spent privacy budget on a dataset
	TypeCheckpointCosigned Type = 7  // a witness cosigned one of this log's checkpoints
	TypeAnchorPublished    Type = 8  // a checkpoint was anchored to a public chain
	TypeWitnessed          Type = 9  // this node, as a witness, cosigned another log's checkpoint
	TypeWitnessAlarm       Type = 10 // this node, as a witness, refused an inconsistent checkpoint
	maxType                     = TypeWitnessAlarm
)

var typeNames = [...]string{
	TypeNote:               "note",
	TypeJobProposed:        "job-proposed",
	TypeSiteDecided:        "site-decided",
	TypeRoundCommitted:     "round-committed",
	TypeJobFinished:        "job-finished",
	TypeBudgetSpent:        "budget-spent",
	TypeCheckpointCosigned: "checkpoint-cosigned",
	TypeAnchorPublished:    "anchor-published",
	TypeWitnessed:          "witnessed",
	TypeWitnessAlarm:       "witness-alarm",
}

func (t Type) String() string {
	if t >= 1 && t <= maxType {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Event is the typed body of an entry. Time is not part of the body: the
// entry carries it, and DecodeEvent copies it into the events that have a
// Time field.
type Event interface {
	EntryType() Type
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}

// DecodeEvent decodes the body of an entry of type t.
func DecodeEvent(t Type, body []byte) (Event, error) {
	var ev Event
	switch t {
	case TypeNote:
		ev = new(Note)
	case TypeJobProposed:
		ev = new(JobProposed)
	case TypeSiteDecided:
		ev = new(SiteDecided)
	case TypeRoundCommitted:
		ev = new(RoundCommitted)
	case TypeJobFinished:
		ev = new(JobFinished)
	case TypeBudgetSpent:
		ev = new(BudgetSpent)
	case TypeCheckpointCosigned:
		ev = new(CheckpointCosigned)
	case TypeAnchorPublished:
		ev = new(AnchorPublished)
	case TypeWitnessed:
		ev = new(Witnessed)
	case TypeWitnessAlarm:
		ev = new(WitnessAlarm)
	default:
		return nil, fmt.Errorf("%w: unknown entry type %d", ErrMalformed, uint8(t))
	}
	if err := ev.UnmarshalBinary(body); err != nil {
		return nil, err
	}
	return ev, nil
}

// Note is free-form bytes recorded by an operator (or a benchmark).
type Note struct{ Data []byte }

func (*Note) EntryType() Type                  { return TypeNote }
func (n *Note) MarshalBinary() ([]byte, error) { return append([]byte(nil), n.Data...), nil }
func (n *Note) UnmarshalBinary(b []byte) error { n.Data = append([]byte(nil), b...); return nil }

// JobProposed records a proposal: the job, the hash of its file, its seed,
// privacy mode and roster.
type JobProposed struct {
	Job      JobID
	Name     string
	FileHash [32]byte
	Seed     uint64
	Mode     string
	Roster   []Party
	Time     time.Time // the entry's time; not in the body
}

func (*JobProposed) EntryType() Type { return TypeJobProposed }

func (e *JobProposed) MarshalBinary() ([]byte, error) {
	var w enc
	w.job(e.Job)
	w.str(e.Name)
	w.hash(e.FileHash)
	w.u64(e.Seed)
	w.str(e.Mode)
	w.parties(e.Roster)
	return w.b, nil
}

func (e *JobProposed) UnmarshalBinary(b []byte) error {
	d := dec{b: b}
	*e = JobProposed{Job: d.job(), Name: d.str(), FileHash: d.hash(), Seed: d.u64(), Mode: d.str(), Roster: d.parties()}
	return d.done("job-proposed")
}

// SiteDecided records a site's decision on a proposal. A site that did not
// answer before the deadline is recorded as refusing with that reason.
type SiteDecided struct {
	Job    JobID
	Site   Party
	Accept bool
	Reason string
	Rows   int
	Time   time.Time // the entry's time; not in the body
}

func (*SiteDecided) EntryType() Type { return TypeSiteDecided }

func (e *SiteDecided) MarshalBinary() ([]byte, error) {
	if e.Rows < 0 {
		return nil, fmt.Errorf("ledger: site-decided: negative row count %d", e.Rows)
	}
	var w enc
	w.job(e.Job)
	w.party(e.Site)
	w.boolean(e.Accept)
	w.str(e.Reason)
	w.u64(uint64(e.Rows))
	return w.b, nil
}

func (e *SiteDecided) UnmarshalBinary(b []byte) error {
	d := dec{b: b}
	*e = SiteDecided{Job: d.job(), Site: d.party(), Accept: d.boolean(), Reason: d.str()}
	rows := d.u64()
	if d.err == nil && rows > 1<<62 {
		d.err = fmt.Errorf("row count %d out of range", rows)
	}
	e.Rows = int(rows)
	return d.done("site-decided")
}

// RoundCommitted records a completed round: the hash of the new global
// model, who contributed, and the record-level ε each contributor has spent
// in this job so far (NaN without record-level DP).
type RoundCommitted struct {
	Job          JobID
	Round        int
	Attempt      int
	ModelHash    [32]byte
	Contributors []Party
	Epsilon      []float64 // by contributor
	Time         time.Time // the entry's time; not in the body
}

func (*RoundCommitted) EntryType() Type { return TypeRoundCommitted }

func (e *RoundCommitted) MarshalBinary() ([]byte, error) {
	if e.Round < 0 || e.Round > 1<<32-1 || e.Attempt < 0 || e.Attempt > 1<<32-1 {
		return nil, fmt.Errorf("ledger: round-committed: round %d attempt %d out of range", e.Round, e.Attempt)
	}
	if len(e.Epsilon) != len(e.Contributors) {
		return nil, fmt.Errorf("ledger: round-committed: %d ε values for %d contributors", len(e.Epsilon), len(e.Contributors))
	}
	var w enc
	w.job(e.Job)
	w.u32(uint32(e.Round))
	w.u32(uint32(e.Attempt))
	w.hash(e.ModelHash)
	w.parties(e.Contributors)
	for _, x := range e.Epsilon {
		w.f64(x)
	}
	return w.b, nil
}

func (e *RoundCommitted) UnmarshalBinary(b []byte) error {
	d := dec{b: b}
	*e = RoundCommitted{Job: d.job(), Round: int(d.u32()), Attempt: int(d.u32()), ModelHash: d.hash(), Contributors: d.parties()}
	if d.err == nil && uint64(len(e.Contributors))*8 > uint64(len(d.b)) {
		d.err = errShort
	}
	if d.err == nil && len(e.Contributors) > 0 {
		e.Epsilon = make([]float64, len(e.Contributors))
		for i := range e.Epsilon {
			e.Epsilon[i] = d.f64()
		}
	}
	return d.done("round-committed")
}

// JobFinished records the end of a job: its final model's hash and metrics,
// or the reason it failed.
type JobFinished struct {
	Job       JobID
	Rounds    int
	ModelHash [32]byte
	Loss      float64
	Accuracy  float64
	AUC       float64
	Err       string
	Time      time.Time // the entry's time; not in the body
}

func (*JobFinished) EntryType() Type { return TypeJobFinished }

func (e *JobFinished) MarshalBinary() ([]byte, error) {
	if e.Rounds < 0 || e.Rounds > 1<<32-1 {
		return nil, fmt.Errorf("ledger: job-finished: %d rounds out of range", e.Rounds)
	}
	var w enc
	w.job(e.Job)
	w.u32(uint32(e.Rounds))
	w.hash(e.ModelHash)
	w.f64(e.Loss)
	w.f64(e.Accuracy)
	w.f64(e.AUC)
	w.str(e.Err)
	return w.b, nil
}

func (e *JobFinished) UnmarshalBinary(b []byte) error {
	d := dec{b: b}
	*e = JobFinished{Job: d.job(), Rounds: int(d.u32()), ModelHash: d.hash(), Loss: d.f64(), Accuracy: d.f64(), AUC: d.f64(), Err: d.str()}
	return d.done("job-finished")
}

// BudgetSpent records privacy budget a site spent on one of its datasets for
// a job, and the dataset's total spent so far.
type BudgetSpent struct {
	Job     JobID
	Dataset string
	Epsilon float64
	Delta   float64
	Total   float64 // ε spent on the dataset, this job included
}

func (*BudgetSpent) EntryType() Type { return TypeBudgetSpent }

func (e *BudgetSpent) MarshalBinary() ([]byte, error) {
	var w enc
	w.job(e.Job)
	w.str(e.Dataset)
	w.f64(e.Epsilon)
	w.f64(e.Delta)
	w.f64(e.Total)
	return w.b, nil
}

func (e *BudgetSpent) UnmarshalBinary(b []byte) error {
	d := dec{b: b}
	*e = BudgetSpent{Job: d.job(), Dataset: d.str(), Epsilon: d.f64(), Delta: d.f64(), Total: d.f64()}
	return d.done("budget-spent")
}

// CheckpointCosigned records that a witness cosigned one of this log's
// checkpoints: the checkpoint's size and root, the witness's verifier key
// (C2SP signed-note vkey) and its signature line, so an auditor can check
// the cosignature from the ledger alone.
type CheckpointCosigned struct {
	Size      uint64
	Root      [32]byte
	Witness   string // the witness's cosignature verifier key (name+hash+keydata)
	Signature string // the note signature line, "— name base64\n"
}

func (*CheckpointCosigned) EntryType() Type { return TypeCheckpointCosigned }

func (e *CheckpointCosigned) MarshalBinary() ([]byte, error) {
	var w enc
	w.u64(e.Size)
	w.hash(e.Root)
	w.str(e.Witness)
	w.str(e.Signature)
	return w.b, nil
}

func (e *CheckpointCosigned) UnmarshalBinary(b []byte) error {
	d := dec{b: b}
	*e = CheckpointCosigned{Size: d.u64(), Root: d.hash(), Witness: d.str(), Signature: d.str()}
	return d.done("checkpoint-cosigned")
}

// AnchorPublished records a checkpoint anchored to a public chain: what was
// anchored (origin, size, root) and where (chain ID, transaction, block).
type AnchorPublished struct {
	Origin        string
	Size          uint64
	Root          [32]byte
	Chain         string // the chain family, "eip155" for Ethereum
	ChainID       uint64
	Tx            [32]byte // transaction hash
	Block         uint64   // block number
	BlockHash     [32]byte
	Confirmations uint64 // confirmations seen when recorded
}

func (*AnchorPublished) EntryType() Type { return TypeAnchorPublished }

func (e *AnchorPublished) MarshalBinary() ([]byte, error) {
	var w enc
	w.str(e.Origin)
	w.u64(e.Size)
	w.hash(e.Root)
	w.str(e.Chain)
	w.u64(e.ChainID)
	w.hash(e.Tx)
	w.u64(e.Block)
	w.hash(e.BlockHash)
	w.u64(e.Confirmations)
	return w.b, nil
}

func (e *AnchorPublished) UnmarshalBinary(b []byte) error {
	d := dec{b: b}
	*e = AnchorPublished{Origin: d.str(), Size: d.u64(), Root: d.hash(), Chain: d.str(), ChainID: d.u64(), Tx: d.hash(),
		Block: d.u64(), BlockHash: d.hash(), Confirmations: d.u64()}
	return d.done("anchor-published")
}

// Witnessed records that this node, as a witness, verified and cosigned a
// checkpoint of another node's log: the signed checkpoint as received and
// the cosignature line this node added.
type Witnessed struct {
	Origin      string
	Size        uint64
	Root        [32]byte
	Checkpoint  []byte // the signed checkpoint note as received
	Cosignature string // the signature line this node added
}

func (*Witnessed) EntryType() Type { return TypeWitnessed }

func (e *Witnessed) MarshalBinary() ([]byte, error) {
	var w enc
	w.str(e.Origin)
	w.u64(e.Size)
	w.hash(e.Root)
	w.bytes(e.Checkpoint)
	w.str(e.Cosignature)
	return w.b, nil
}

func (e *Witnessed) UnmarshalBinary(b []byte) error {
	d := dec{b: b}
	*e = Witnessed{Origin: d.str(), Size: d.u64(), Root: d.hash(), Checkpoint: d.bytes(), Cosignature: d.str()}
	return d.done("witnessed")
}

// WitnessAlarm records a checkpoint this node refused as a witness, with the
// evidence: the last checkpoint it had cosigned for that origin and the
// offending one (both signed notes), and why.
type WitnessAlarm struct {
	Origin  string
	Reason  string
	Trusted []byte // the last checkpoint this witness cosigned (signed note)
	Refused []byte // the checkpoint it refused (signed note)
	Proof   [][32]byte
}

func (*WitnessAlarm) EntryType() Type { return TypeWitnessAlarm }

func (e *WitnessAlarm) MarshalBinary() ([]byte, error) {
	var w enc
	w.str(e.Origin)
	w.str(e.Reason)
	w.bytes(e.Trusted)
	w.bytes(e.Refused)
	w.u32(uint32(len(e.Proof)))
	for _, h := range e.Proof {
		w.hash(h)
	}
	return w.b, nil
}

func (e *WitnessAlarm) UnmarshalBinary(b []byte) error {
	d := dec{b: b}
	*e = WitnessAlarm{Origin: d.str(), Reason: d.str(), Trusted: d.bytes(), Refused: d.bytes()}
	n := d.u32()
	if d.err == nil && uint64(n)*32 > uint64(len(d.b)) {
		d.err = errShort
	}
	if d.err == nil && n > 0 {
		e.Proof = make([][32]byte, n)
		for i := range e.Proof {
			e.Proof[i] = d.hash()
		}
	}
	return d.done("witness-alarm")
}
