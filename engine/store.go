package engine

import (
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cohort-mpc/cohort/federated/train"
)

// ErrNoJob is returned by Store.Load for a job it does not hold.
var ErrNoJob = errors.New("engine: no such job")

// JobState is what the aggregator persists of a job: enough to resume it at
// the next round with the same results as a run without interruption.
type JobState struct {
	ID JobID
	// Proposal is the encoded proposal body (job file, seed, roster).
	Proposal []byte
	// Decisions are the sites' answers by roster index.
	Decisions []Decision
	// Next is the next round to run: 0 (setup), 1..Rounds, Rounds+1 (the
	// final evaluation), or Rounds+2 once finished.
	Next uint32
	// Attempts counts the round attempts started so far; attempt numbers
	// are never reused, so no site reuses a protocol secret.
	Attempts uint32
	// Model is the global model after round Next-1.
	Model        []float64
	Standardizer []float64
	// Strategy is the strategy's server state (train.StatefulStrategy).
	Strategy []byte
	History  []RoundRecord
	// The mhe setup: parties (roster indices), threshold and collective key.
	MHEParties []uint32
	MHET       uint32
	MHEKey     []byte
	// Err is why the job failed ("" if it did not).
	Err string
}

// RoundRecord is one completed round.
type RoundRecord struct {
	Round        int
	Attempt      uint32
	Contributors []uint32 // roster indices
	TrainLoss    float64
	// Test are the metrics of the model after this round, on the sites'
	// held-out rows (known once the next round or the final evaluation
	// has aggregated them; N = 0 before).
	Test      train.Metrics
	Epsilon   float64 // the most record-level ε any contributor has spent; NaN without
	Duration  time.Duration
	ModelHash [32]byte
}

const stateVersion = 1

// MarshalBinary encodes the state.
func (s *JobState) MarshalBinary() ([]byte, error) {
	w := wbuf{}
	w.u8(stateVersion)
	w.b = append(w.b, s.ID[:]...)
	w.bytes(s.Proposal)
	w.u32(uint32(len(s.Decisions)))
	for i := range s.Decisions {
		b, err := s.Decisions[i].MarshalBinary()
		if err != nil {
			return nil, err
		}
		w.bytes(b)
	}
	w.u32(s.Next)
	w.u32(s.Attempts)
	w.floats(s.Model)
	w.floats(s.Standardizer)
	w.bytes(s.Strategy)
	w.u32(uint32(len(s.History)))
	for _, r := range s.History {
		w.u32(uint32(r.Round))
		w.u32(r.Attempt)
		w.u32s(r.Contributors)
		w.u64(uint64(r.Test.N))
		for _, f := range []float64{r.TrainLoss, r.Test.Loss, r.Test.Accuracy, r.Test.AUC, r.Epsilon} {
			w.u64(math.Float64bits(f))
		}
		w.u64(uint64(r.Duration))
		w.b = append(w.b, r.ModelHash[:]...)
	}
	w.u32s(s.MHEParties)
	w.u32(s.MHET)
	w.bytes(s.MHEKey)
	w.bytes([]byte(s.Err))
	return w.b, nil
}

// UnmarshalBinary decodes a state.
func (s *JobState) UnmarshalBinary(b []byte) error {
	r := rbuf{b: b, what: "job state"}
	if v := r.u8("version"); r.err == nil && v != stateVersion {
		r.fail("version %d, want %d", v, stateVersion)
	}
	*s = JobState{}
	copy(s.ID[:], r.take(16, "job"))
	s.Proposal = r.bytes("proposal", MaxMessage)
	n := r.count("decisions", MaxSites, 4)
	for i := 0; i < n && r.err == nil; i++ {
		var d Decision
		if err := d.UnmarshalBinary(r.bytes("decision", MaxName*4)); err != nil && r.err == nil {
			r.err = err
		}
		s.Decisions = append(s.Decisions, d)
	}
	s.Next = r.u32("next round")
	s.Attempts = r.u32("attempts")
	s.Model = r.floats("model", MaxParams)
	s.Standardizer = r.floats("standardizer", MaxParams)
	s.Strategy = r.bytes("strategy", MaxMessage)
	n = r.count("history", 1<<20, 8)
	for i := 0; i < n && r.err == nil; i++ {
		var h RoundRecord
		h.Round = int(r.u32("round"))
		h.Attempt = r.u32("attempt")
		h.Contributors = r.u32s("contributors", MaxSites)
		h.Test.N = int64(r.u64("rows"))
		fs := make([]float64, 5)
		for k := range fs {
			fs[k] = math.Float64frombits(r.u64("metric"))
		}
		h.TrainLoss, h.Test.Loss, h.Test.Accuracy, h.Test.AUC, h.Epsilon = fs[0], fs[1], fs[2], fs[3], fs[4]
		h.Duration = time.Duration(r.u64("duration"))
		copy(h.ModelHash[:], r.take(32, "model hash"))
		s.History = append(s.History, h)
	}
	s.MHEParties = r.u32s("mhe parties", MaxSites)
	s.MHET = r.u32("mhe threshold")
	s.MHEKey = r.bytes("mhe key", MaxMessage)
	s.Err = string(r.bytes("error", MaxName*4))
	return r.done()
}

// Store persists job states in Pebble, one key per job, each write synced:
// after Save returns, a crash loses nothing.
type Store struct {
	db *pebble.DB
}

// OpenStore opens (creating if needed) the store in dir.
func OpenStore(dir string) (*Store, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		return nil, fmt.Errorf("engine: open job store %s: %w", dir, err)
	}
	return &Store{db: db}, nil
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

func stateKey(id JobID) []byte { return append([]byte("job/state/"), id[:]...) }

// Save writes st, replacing the job's previous state atomically.
func (s *Store) Save(st *JobState) error {
	b, err := st.MarshalBinary()
	if err != nil {
		return err
	}
	if err := s.db.Set(stateKey(st.ID), b, pebble.Sync); err != nil {
		return fmt.Errorf("engine: save job %v: %w", st.ID, err)
	}
	return nil
}

// Load reads a job's state.
func (s *Store) Load(id JobID) (*JobState, error) {
	b, closer, err := s.db.Get(stateKey(id))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("%w: %v", ErrNoJob, id)
	}
	if err != nil {
		return nil, fmt.Errorf("engine: load job %v: %w", id, err)
	}
	defer closer.Close()
	st := new(JobState)
	if err := st.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	if st.ID != id {
		return nil, fmt.Errorf("%w: state stored under job %v is for job %v", ErrMalformed, id, st.ID)
	}
	return st, nil
}

// Jobs lists the jobs in the store.
func (s *Store) Jobs() ([]JobID, error) {
	prefix := []byte("job/state/")
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: []byte("job/state0")})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var ids []JobID
	for it.First(); it.Valid(); it.Next() {
		if len(it.Key()) == len(prefix)+16 {
			ids = append(ids, JobID(it.Key()[len(prefix):]))
		}
	}
	return ids, it.Error()
}

// quietLogger drops Pebble's informational lines and keeps its errors.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}
func (quietLogger) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pebble: "+format+"\n", args...)
}
func (quietLogger) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pebble: "+format+"\n", args...)
	os.Exit(1)
}
