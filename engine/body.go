package engine

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// Limits on decoded bodies.
const (
	// MaxSites bounds the roster of a job.
	MaxSites = 1 << 16
	// MaxJobFile bounds the job file a proposal carries.
	MaxJobFile = 1 << 20
	// MaxName bounds a site name or a reason.
	MaxName = 1 << 10
	// MaxParams bounds a model's parameter count on the wire.
	MaxParams = 1 << 26
)

// Proposal is the body of KindProposal: the job file as the researcher
// wrote it, the seed the aggregator resolved, and the roster of sites by
// index. The job's ID is the hash of this body (ProposalID).
type Proposal struct {
	JobFile []byte
	Seed    uint64
	Roster  []Peer
	// Researcher and Signature, both set or both nil, say who submitted
	// the job: Signature is Researcher's SignJob signature of JobFile.
	// Sites check it (VerifyJob) before their policy sees the proposal.
	Researcher ed25519.PublicKey
	Signature  []byte
}

// jobSigContext is the domain separation of a researcher's signature on
// a job file.
const jobSigContext = "cohort-job/v1\n"

func jobSigMessage(jobFile []byte) []byte {
	h := sha256.Sum256(jobFile)
	return append([]byte(jobSigContext), h[:]...)
}

// SignJob is a researcher's signature of a job file: Ed25519 over
// "cohort-job/v1\n" followed by the file's SHA-256.
func SignJob(key ed25519.PrivateKey, jobFile []byte) []byte {
	return ed25519.Sign(key, jobSigMessage(jobFile))
}

// VerifyJob reports whether sig is key's SignJob signature of jobFile.
func VerifyJob(key ed25519.PublicKey, jobFile, sig []byte) bool {
	return len(key) == ed25519.PublicKeySize && len(sig) == ed25519.SignatureSize &&
		ed25519.Verify(key, jobSigMessage(jobFile), sig)
}

// Decision is the body of KindDecision: a site's answer to a proposal, its
// public row counts, and, for an mhe job, its signed sealing key.
type Decision struct {
	Accept    bool
	Reason    string
	TrainRows uint32
	TestRows  uint32
	Sealing   []byte // sealed.Announcement, mhe jobs only
	// Signature is the site's SignDecision signature: the aggregator keeps
	// it in the job's state as the site's word (nil only before signing).
	Signature []byte
}

// decisionSigContext is the domain separation of a site's signature on
// its decision.
const decisionSigContext = "cohort-decision/v1\n"

// decisionSigMessage is what a site signs: the context, the job ID and the
// decision's encoding without its signature.
func decisionSigMessage(job JobID, d *Decision) ([]byte, error) {
	u := *d
	u.Signature = nil
	b, err := u.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return append(append([]byte(decisionSigContext), job[:]...), b...), nil
}

// SignDecision sets d.Signature to key's signature of d for job.
func SignDecision(key ed25519.PrivateKey, job JobID, d *Decision) error {
	m, err := decisionSigMessage(job, d)
	if err != nil {
		return err
	}
	d.Signature = ed25519.Sign(key, m)
	return nil
}

// VerifyDecision reports whether d carries key's signature of d for job.
func VerifyDecision(key ed25519.PublicKey, job JobID, d *Decision) bool {
	m, err := decisionSigMessage(job, d)
	return err == nil && len(key) == ed25519.PublicKeySize && len(d.Signature) == ed25519.SignatureSize &&
		ed25519.Verify(key, m, d.Signature)
}

// Purpose says what a round aggregates.
type Purpose uint8

// Round purposes.
const (
	// PurposeStats aggregates the sites' standardisation statistics (round 0).
	PurposeStats Purpose = 1
	// PurposeTrain broadcasts the global model; sites train and send their
	// weighted update with the evaluation counts of the model they got.
	PurposeTrain Purpose = 2
	// PurposeEval only evaluates the final model.
	PurposeEval Purpose = 3
)

// RoundStart is the body of KindRoundStart.
type RoundStart struct {
	Purpose Purpose
	// Members are the roster indices taking part, increasing; a site's
	// party index in the round's protocol is its position here.
	Members []uint32
	// Scale is the public weight divisor: a site weights its update by
	// TrainRows/Scale so that every value stays in the fixed-point range.
	Scale uint32
	// Model is the global model (empty for PurposeStats).
	Model []float64
	// Standardizer is the federated mean and standard deviation per
	// feature, 2·features values (empty for PurposeStats).
	Standardizer []float64
}

// ProposalID is the job ID of a proposal body: the first 16 bytes of its
// SHA-256.
func ProposalID(body []byte) JobID {
	h := sha256.Sum256(body)
	var id JobID
	copy(id[:], h[:])
	return id
}

// The codec: big-endian integers, u32 lengths, bounds checked before any
// allocation, and a decoder that must consume every byte.

type wbuf struct{ b []byte }

func (w *wbuf) u8(x uint8)   { w.b = append(w.b, x) }
func (w *wbuf) u32(x uint32) { w.b = binary.BigEndian.AppendUint32(w.b, x) }
func (w *wbuf) u64(x uint64) { w.b = binary.BigEndian.AppendUint64(w.b, x) }
func (w *wbuf) bytes(x []byte) {
	w.u32(uint32(len(x)))
	w.b = append(w.b, x...)
}
func (w *wbuf) floats(x []float64) {
	w.u32(uint32(len(x)))
	for _, f := range x {
		w.u64(math.Float64bits(f))
	}
}
func (w *wbuf) u32s(x []uint32) {
	w.u32(uint32(len(x)))
	for _, v := range x {
		w.u32(v)
	}
}

type rbuf struct {
	b    []byte
	what string
	err  error
}

func (r *rbuf) fail(format string, a ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s: %s", ErrMalformed, r.what, fmt.Sprintf(format, a...))
	}
}

func (r *rbuf) take(n int, field string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.fail("%s: truncated (%d bytes left, want %d)", field, len(r.b), n)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *rbuf) u8(field string) uint8 {
	if v := r.take(1, field); v != nil {
		return v[0]
	}
	return 0
}

func (r *rbuf) u32(field string) uint32 {
	if v := r.take(4, field); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (r *rbuf) u64(field string) uint64 {
	if v := r.take(8, field); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// count reads a length prefix and checks it against max and against the
// bytes left (each element at least size bytes).
func (r *rbuf) count(field string, max, size int) int {
	n := int(r.u32(field + " length"))
	if r.err != nil {
		return 0
	}
	if n > max {
		r.fail("%s: %d elements exceed the limit of %d", field, n, max)
		return 0
	}
	if n*size > len(r.b) {
		r.fail("%s: %d elements of %d bytes, only %d bytes left", field, n, size, len(r.b))
		return 0
	}
	return n
}

func (r *rbuf) bytes(field string, max int) []byte {
	n := r.count(field, max, 1)
	return slices.Clone(r.take(n, field))
}

func (r *rbuf) floats(field string, max int) []float64 {
	n := r.count(field, max, 8)
	if r.err != nil {
		return nil
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = math.Float64frombits(r.u64(field))
	}
	return v
}

func (r *rbuf) u32s(field string, max int) []uint32 {
	n := r.count(field, max, 4)
	if r.err != nil {
		return nil
	}
	v := make([]uint32, n)
	for i := range v {
		v[i] = r.u32(field)
	}
	return v
}

func (r *rbuf) bool(field string) bool {
	switch r.u8(field) {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail("%s: not 0 or 1", field)
	return false
}

func (r *rbuf) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	return r.err
}

const bodyVersion = 1

func (r *rbuf) version() {
	if v := r.u8("version"); r.err == nil && v != bodyVersion {
		r.fail("version %d, want %d", v, bodyVersion)
	}
}

// MarshalBinary encodes the proposal.
func (p *Proposal) MarshalBinary() ([]byte, error) {
	if len(p.JobFile) > MaxJobFile || len(p.Roster) > MaxSites {
		return nil, fmt.Errorf("engine: proposal too large: job file %d bytes, %d sites", len(p.JobFile), len(p.Roster))
	}
	w := wbuf{}
	w.u8(bodyVersion)
	w.bytes(p.JobFile)
	w.u64(p.Seed)
	w.u32(uint32(len(p.Roster)))
	for _, s := range p.Roster {
		if len(s.Key) != ed25519.PublicKeySize || len(s.Name) > MaxName {
			return nil, fmt.Errorf("engine: roster entry %q: want a %d-byte key and a name of at most %d bytes", s.Name, ed25519.PublicKeySize, MaxName)
		}
		w.b = append(w.b, s.Key...)
		w.bytes([]byte(s.Name))
	}
	switch {
	case p.Researcher == nil && p.Signature == nil:
		w.u8(0)
	case len(p.Researcher) == ed25519.PublicKeySize && len(p.Signature) == ed25519.SignatureSize:
		w.u8(1)
		w.b = append(w.b, p.Researcher...)
		w.b = append(w.b, p.Signature...)
	default:
		return nil, fmt.Errorf("engine: proposal: want a %d-byte researcher key and a %d-byte signature, or neither", ed25519.PublicKeySize, ed25519.SignatureSize)
	}
	return w.b, nil
}

// UnmarshalBinary decodes a proposal. Roster keys must be distinct.
func (p *Proposal) UnmarshalBinary(b []byte) error {
	r := rbuf{b: b, what: "proposal"}
	r.version()
	p.JobFile = r.bytes("job file", MaxJobFile)
	p.Seed = r.u64("seed")
	n := r.count("roster", MaxSites, ed25519.PublicKeySize+4)
	p.Roster = nil
	seen := make(map[string]bool, n)
	for i := 0; i < n && r.err == nil; i++ {
		key := slices.Clone(r.take(ed25519.PublicKeySize, "roster key"))
		name := r.bytes("roster name", MaxName)
		if r.err == nil && seen[string(key)] {
			r.fail("roster entry %d repeats a key", i)
		}
		seen[string(key)] = true
		p.Roster = append(p.Roster, Peer{Name: string(name), Key: key})
	}
	p.Researcher, p.Signature = nil, nil
	switch signed := r.u8("signed"); {
	case r.err != nil:
	case signed == 1:
		p.Researcher = slices.Clone(r.take(ed25519.PublicKeySize, "researcher key"))
		p.Signature = slices.Clone(r.take(ed25519.SignatureSize, "researcher signature"))
	case signed != 0:
		r.fail("signed flag %d, want 0 or 1", signed)
	}
	return r.done()
}

// MarshalBinary encodes the decision.
func (d *Decision) MarshalBinary() ([]byte, error) {
	if len(d.Reason) > MaxName || len(d.Sealing) > MaxName {
		return nil, fmt.Errorf("engine: decision reason or sealing key too long")
	}
	w := wbuf{}
	w.u8(bodyVersion)
	if d.Accept {
		w.u8(1)
	} else {
		w.u8(0)
	}
	w.bytes([]byte(d.Reason))
	w.u32(d.TrainRows)
	w.u32(d.TestRows)
	w.bytes(d.Sealing)
	if len(d.Signature) != 0 && len(d.Signature) != ed25519.SignatureSize {
		return nil, fmt.Errorf("engine: decision signature of %d bytes, want %d or none", len(d.Signature), ed25519.SignatureSize)
	}
	w.bytes(d.Signature)
	return w.b, nil
}

// UnmarshalBinary decodes a decision.
func (d *Decision) UnmarshalBinary(b []byte) error {
	r := rbuf{b: b, what: "decision"}
	r.version()
	d.Accept = r.bool("accept")
	d.Reason = string(r.bytes("reason", MaxName))
	d.TrainRows = r.u32("train rows")
	d.TestRows = r.u32("test rows")
	d.Sealing = r.bytes("sealing key", MaxName)
	d.Signature = r.bytes("signature", ed25519.SignatureSize)
	if r.err == nil && len(d.Signature) != 0 && len(d.Signature) != ed25519.SignatureSize {
		r.fail("signature of %d bytes, want %d or none", len(d.Signature), ed25519.SignatureSize)
	}
	return r.done()
}

// MarshalBinary encodes the round start.
func (s *RoundStart) MarshalBinary() ([]byte, error) {
	if len(s.Members) > MaxSites || len(s.Model) > MaxParams || len(s.Standardizer) > MaxParams {
		return nil, fmt.Errorf("engine: round start too large")
	}
	w := wbuf{b: make([]byte, 0, 32+4*len(s.Members)+8*(len(s.Model)+len(s.Standardizer)))}
	w.u8(bodyVersion)
	w.u8(uint8(s.Purpose))
	w.u32s(s.Members)
	w.u32(s.Scale)
	w.floats(s.Model)
	w.floats(s.Standardizer)
	return w.b, nil
}

// UnmarshalBinary decodes a round start: a known purpose, members strictly
// increasing, a positive scale.
func (s *RoundStart) UnmarshalBinary(b []byte) error {
	r := rbuf{b: b, what: "round start"}
	r.version()
	s.Purpose = Purpose(r.u8("purpose"))
	if r.err == nil && (s.Purpose < PurposeStats || s.Purpose > PurposeEval) {
		r.fail("unknown purpose %d", s.Purpose)
	}
	s.Members = r.u32s("members", MaxSites)
	for i := 1; i < len(s.Members) && r.err == nil; i++ {
		if s.Members[i] <= s.Members[i-1] {
			r.fail("members not strictly increasing at %d", i)
		}
	}
	s.Scale = r.u32("scale")
	if r.err == nil && s.Scale == 0 {
		r.fail("zero scale")
	}
	s.Model = r.floats("model", MaxParams)
	s.Standardizer = r.floats("standardizer", MaxParams)
	return r.done()
}

// Reason bodies (KindAbort) are UTF-8 text of at most MaxName bytes.
func decodeReason(b []byte) (string, error) {
	if len(b) > MaxName {
		return "", fmt.Errorf("%w: abort reason of %d bytes exceeds %d", ErrMalformed, len(b), MaxName)
	}
	return string(b), nil
}

// encodeFloats and decodeFloats carry a plain-mode vector or a final model.
func encodeFloats(v []float64) []byte {
	w := wbuf{b: make([]byte, 0, 5+8*len(v))}
	w.u8(bodyVersion)
	w.floats(v)
	return w.b
}

func decodeFloats(b []byte, what string, want int) ([]float64, error) {
	r := rbuf{b: b, what: what}
	r.version()
	v := r.floats("values", MaxParams)
	if err := r.done(); err != nil {
		return nil, err
	}
	if want >= 0 && len(v) != want {
		return nil, fmt.Errorf("%w: %s: %d values, want %d", ErrMalformed, what, len(v), want)
	}
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("%w: %s: value %d is not finite", ErrMalformed, what, i)
		}
	}
	return v, nil
}
