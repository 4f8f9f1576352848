package bench

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"time"

	"github.com/cohort-mpc/cohort/protocols/secagg"
	"github.com/cohort-mpc/cohort/tensor"
	"github.com/cohort-mpc/cohort/tensor/cuda"
)

// SecAggOptions configure the secagg suite.
type SecAggOptions struct {
	Clients    int     // parties (0: 50; quick: 10)
	Dropout    float64 // fraction of parties that drop after sharing keys
	Corruption float64 // assumed corruption rate, for choosing K and T
	K, T       int     // neighbours and threshold; 0 chooses them with secagg.ChooseKT
}

func secaggSuite() Suite {
	return Suite{
		Name: "secagg",
		Doc:  "one SecAgg+ round in process: client and server time, bytes sent, against the AES-CTR keystream time of their masks; with --backend cuda a CUDA server on the same messages too",
		Run:  runSecAgg,
	}
}

// secaggParams fills in defaults and picks K and T.
func secaggParams(opt Options) (secagg.ParamsLiteral, error) {
	o := opt.SecAgg
	if o.Clients == 0 {
		o.Clients = 50
		if opt.Quick {
			o.Clients = 10
		}
	}
	dim := opt.Params
	if dim == 0 {
		dim = 1_000_000
		if opt.Quick {
			dim = 1000
		}
	}
	k, t := o.K, o.T
	if k == 0 {
		var err error
		if k, t, err = secagg.ChooseKT(o.Clients, o.Dropout, o.Corruption); err != nil {
			return secagg.ParamsLiteral{}, fmt.Errorf("%w; set K and T by hand (--k, --t)", err)
		}
	}
	if t == 0 {
		t = k/2 + 1
	}
	return secagg.ParamsLiteral{N: o.Clients, K: k, T: t, RingBits: 32, Dim: dim, Lo: -1, Hi: 1}, nil
}

// ErrServersDiffer is returned, wrapped, by the secagg suite when the server
// on the backend under test and the CPU server, given the same messages, send
// different messages or compute different results.
var ErrServersDiffer = errors.New("bench: the secagg servers disagree")

// gpuPrefix begins the case names of the rows of the CUDA server.
const gpuPrefix = "cuda/"

// serverStats are the measurements of one server in one round.
type serverStats struct {
	total     time.Duration // all its work: decoding, the steps, encoding, Finish
	collect   time.Duration // in AddMaskedInput, over all inputs
	afterLast time.Duration // its work from the last AddMaskedInput returning to Finish returning
	finish    time.Duration // Finish: reconstruction, unmasking and reading the sum back
	// uploads are the transfers of a device accumulator; nil for one in
	// host memory.
	uploads *cuda.AccumulatorStats
	accName string // the accumulator's Name
}

// roundStats are the measurements of one round.
type roundStats struct {
	clientTotal, clientMask []time.Duration // per surviving client
	clientMaskWords         []int           // mask words each surviving client expanded
	up, down                []int           // bytes each surviving client sent and received
	servers                 []serverStats   // the CPU server, then the CUDA server if any
	unmaskWords             int             // mask words a server regenerated
}

func runSecAgg(ctx context.Context, opt Options, emit func(Result)) error {
	kind := opt.backend()
	gpu, stop, fallback, err := cuda.Choose(kind, tensor.CPUConfig{Workers: opt.Workers})
	if err != nil {
		return fmt.Errorf("--backend %s: %w", kind, err)
	}
	defer stop()
	return runSecAggOn(ctx, opt, gpu, fallbackNote(fallback), emit)
}

// runSecAggOn runs the suite: the clients and one server on the CPU backend
// with all cores (opt.Workers), and, when gpu is not nil, a second server on
// gpu given the very same messages in the same rounds, whose outputs must
// equal the CPU server's byte for byte. note, when not empty, says why CUDA
// is not used and goes in the backend row.
func runSecAggOn(ctx context.Context, opt Options, gpu *cuda.Backend, note string, emit func(Result)) error {
	lit, err := secaggParams(opt)
	if err != nil {
		return err
	}
	p, err := secagg.NewParams(lit)
	if err != nil {
		return err
	}
	backend, stop, err := tensor.NewCPU(tensor.CPUConfig{Workers: opt.Workers})
	if err != nil {
		return err
	}
	defer stop()
	workers := opt.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	reps := opt.Reps
	if reps == 0 {
		reps = 3
		if opt.Quick || lit.N > 200 {
			reps = 1
		}
	}
	n := lit.Dim
	name := fmt.Sprintf("n=%d k=%d t=%d dropout=%g", lit.N, lit.K, lit.T, opt.SecAgg.Dropout)
	res := func(c, metric string, value float64, unit string, limit float64, note string) {
		r := Result{Suite: "secagg", Case: c, N: n, Metric: metric, Value: value, Unit: unit, Limit: limit, Note: name + "; " + note}
		if limit > 0 {
			r.Ratio = value / limit
		}
		emit(r)
	}
	backendNote := "clients and server: " + backend.Name()
	if gpu != nil {
		backendNote = fmt.Sprintf("clients and CPU server: %s; CUDA server (%s rows), given the same messages: %s", backend.Name(), gpuPrefix, gpu.Name())
	}
	if note != "" {
		backendNote += "; " + note
	}
	res("backend", "workers", float64(workers), "cores", 0, backendNote)

	// The keystream rate every mask figure is held to: the standard
	// library's AES-CTR on one core, over a buffer larger than the cache.
	ks := make([]byte, 16<<20)
	if opt.Quick {
		ks = ks[:1<<20]
	}
	d, err := medians(ctx, 5, keystream(ks))
	if err != nil {
		return err
	}
	keystreamRate := rate(len(ks), d[0]) // bytes per second
	wordTime := func(words int) float64 { return float64(4*words) / keystreamRate }

	var all []roundStats
	for r := range reps {
		st, err := secaggRound(ctx, p, opt.SecAgg.Dropout, backend, gpu, uint64(r))
		if err != nil {
			return err
		}
		all = append(all, st)
	}
	med := func(f func(roundStats) float64) float64 {
		v := make([]float64, len(all))
		for i, s := range all {
			v[i] = f(s)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	srv := func(i int, f func(serverStats) time.Duration) float64 {
		return med(func(s roundStats) float64 { return f(s.servers[i]).Seconds() })
	}
	unmaskLimit := med(func(s roundStats) float64 { return wordTime(s.unmaskWords) })
	res("client-total", "time", med(func(s roundStats) float64 { return medianDur(s.clientTotal) }), "s", 0,
		"median client, all five steps with encoding")
	res("client-mask", "time", med(func(s roundStats) float64 { return medianDur(s.clientMask) }), "s",
		med(func(s roundStats) float64 { return wordTime(medianInt(s.clientMaskWords)) }),
		"masked-input step (open shares, quantise, mask); limit: stdlib AES-CTR time for its (neighbours+1)·d words")
	// The rows of each server: the CPU server's without a prefix.
	for i := range all[0].servers {
		prefix, on := "", fmt.Sprintf("CPU server, %d cores", workers)
		if i > 0 {
			prefix, on = gpuPrefix, "CUDA server on "+all[0].servers[i].accName
		}
		res(prefix+"server-total", "time", srv(i, func(s serverStats) time.Duration { return s.total }), "s", 0,
			"decoding, validation, summing and unmasking; "+on)
		res(prefix+"server-collection", "time", srv(i, func(s serverStats) time.Duration { return s.collect }), "s", 0,
			"host time in AddMaskedInput over all inputs; "+on)
		if up := all[0].servers[i].uploads; up != nil {
			// Each round's transfers (none where its accumulator fell back to
			// host memory).
			stats := func(s roundStats) cuda.AccumulatorStats {
				if u := s.servers[i].uploads; u != nil {
					return *u
				}
				return cuda.AccumulatorStats{}
			}
			bytes := med(func(s roundStats) float64 { return float64(stats(s).UploadBytes) })
			res(prefix+"server-upload", "bytes", bytes, "B", 0,
				fmt.Sprintf("the %d masked inputs copied to the device as they arrived", up.Inputs))
			res(prefix+"server-upload", "time", med(func(s roundStats) float64 { return stats(s).Upload.Seconds() }), "s", 0,
				"device time of those copies (CUDA events); they overlap the collection phase")
			res(prefix+"server-upload", "throughput", med(func(s roundStats) float64 {
				u := stats(s)
				return float64(u.UploadBytes) / u.Upload.Seconds()
			}), "B/s", 0, "host-to-device bytes per second of device time")
		}
		res(prefix+"server-after-last-input", "time", srv(i, func(s serverStats) time.Duration { return s.afterLast }), "s", 0,
			"from the last AddMaskedInput returning to Finish returning: survivor list, consistency, unmask steps and Finish; "+on)
		res(prefix+"server-unmask", "time", srv(i, func(s serverStats) time.Duration { return s.finish }), "s", unmaskLimit,
			"reconstruction and unmasking; limit: stdlib AES-CTR time for the masks it regenerates; "+on)
		if i > 0 {
			// The figure: unmask and aggregate (Finish, which also
			// waits for any upload still in flight), CPU over CUDA; and the
			// same for everything after the last input, which adds the
			// protocol steps both servers run on the host alike.
			res(prefix+"speedup", "unmask-speedup", med(func(s roundStats) float64 {
				return s.servers[0].finish.Seconds() / s.servers[i].finish.Seconds()
			}), "x", 0, "CPU server-unmask / CUDA server-unmask; issue 9 target: >= 4 x the CPU backend on all cores, and under 0.25 s")
			res(prefix+"speedup", "after-last-input-speedup", med(func(s roundStats) float64 {
				return s.servers[0].afterLast.Seconds() / s.servers[i].afterLast.Seconds()
			}), "x", 0, "CPU after-last-input time / CUDA after-last-input time (the consistency step's signature checks are host work for both)")
		}
	}
	res("upload", "bytes-per-param", med(func(s roundStats) float64 { return float64(medianInt(s.up)) / float64(n) }), "B", 0,
		"median client, all messages it sends")
	res("download", "bytes-per-param", med(func(s roundStats) float64 { return float64(medianInt(s.down)) / float64(n) }), "B", 0,
		"median client, all messages it receives")
	return nil
}

func medianDur(v []time.Duration) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2].Seconds()
}

func medianInt(v []int) int {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// benchRand is a seeded io.Reader: the round is reproducible, and drawing
// randomness costs the same as in a real client.
type benchRand struct{ r *rand.ChaCha8 }

func (b benchRand) Read(p []byte) (int, error) { return b.r.Read(p) }

func seededReader(seed uint64) io.Reader {
	var s [32]byte
	s[0], s[1], s[2] = byte(seed), byte(seed>>8), byte(seed>>16)
	return benchRand{rand.NewChaCha8(s)}
}

// timed runs f and adds its duration to *d.
func timedInto(d *time.Duration, f func() error) error {
	start := time.Now()
	err := f()
	*d += time.Since(start)
	return err
}

// wire is a message with its encoding.
type wire[T any] interface {
	*T
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}

// decode decodes b on clock.
func decode[T any, PT wire[T]](b []byte, clock *time.Duration) (*T, error) {
	out := new(T)
	if err := timedInto(clock, func() error { return PT(out).UnmarshalBinary(b) }); err != nil {
		return nil, err
	}
	return out, nil
}

// recordingBackend is the CUDA backend of a server, keeping the accumulator
// the server makes so that its transfers can be read.
type recordingBackend struct {
	*cuda.Backend
	acc tensor.Accumulator
}

// NewAccumulator makes the accumulator on the device and keeps it.
func (r *recordingBackend) NewAccumulator(ringBits, n int) (tensor.Accumulator, error) {
	a, err := r.Backend.NewAccumulator(ringBits, n)
	r.acc = a
	return a, err
}

// roundServer is one server of a round and its clocks.
type roundServer struct {
	name string
	srv  *secagg.Server
	rec  *recordingBackend // nil for the CPU server
	st   serverStats
}

// do runs f on the server's clock.
func (s *roundServer) do(f func(*secagg.Server) error) error {
	if err := timedInto(&s.st.total, func() error { return f(s.srv) }); err != nil {
		return fmt.Errorf("%s server: %w", s.name, err)
	}
	return nil
}

// roundServers are the servers of a round: the CPU server first. Every
// client message is decoded once and given to all of them, and every
// message they send must be the same bytes.
type roundServers []*roundServer

// add runs f on every server, each on its own clock.
func (ss roundServers) add(f func(*secagg.Server) error) error {
	for _, s := range ss {
		if err := s.do(f); err != nil {
			return err
		}
	}
	return nil
}

// receive encodes m on the sender's clock and decodes it once, on every
// server's clock (each server would decode it), and returns the decoded
// copy, which all the servers get, and its size.
func receive[T any, PT wire[T]](ss roundServers, m *T, senderClock *time.Duration) (*T, int, error) {
	var b []byte
	if err := timedInto(senderClock, func() (err error) { b, err = PT(m).MarshalBinary(); return }); err != nil {
		return nil, 0, err
	}
	var d time.Duration
	out, err := decode[T, PT](b, &d)
	for _, s := range ss {
		s.st.total += d
	}
	return out, len(b), err
}

// broadcast encodes each server's message on its clock, checks that they
// are the same bytes, and returns them: what the clients receive.
func broadcast[T any, PT wire[T]](ss roundServers, what string, ms []*T) ([]byte, error) {
	var ref []byte
	for i, m := range ms {
		if m == nil {
			return nil, fmt.Errorf("%w: the %s server sends no %s", ErrServersDiffer, ss[i].name, what)
		}
		var b []byte
		if err := ss[i].do(func(*secagg.Server) (err error) { b, err = PT(m).MarshalBinary(); return }); err != nil {
			return nil, err
		}
		if i == 0 {
			ref = b
			continue
		}
		if err := sameBytes(what, ss[0].name, ss[i].name, ref, b); err != nil {
			return nil, err
		}
	}
	return ref, nil
}

// sameBytes returns an error wrapping ErrServersDiffer unless servers a and
// b encoded their message what the same.
func sameBytes(what, a, b string, ma, mb []byte) error {
	if bytes.Equal(ma, mb) {
		return nil
	}
	i := 0
	for i < min(len(ma), len(mb)) && ma[i] == mb[i] {
		i++
	}
	return fmt.Errorf("%w: their %s messages differ at byte %d (%d bytes from the %s server, %d from the %s server)",
		ErrServersDiffer, what, i, len(ma), a, len(mb), b)
}

// sameResult returns an error wrapping ErrServersDiffer unless the results
// of servers a and b are equal bit for bit.
func sameResult(a, b string, ra, rb *secagg.Result) error {
	diff := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s (%s server against %s server)", ErrServersDiffer, fmt.Sprintf(format, args...), a, b)
	}
	if len(ra.Sum32) != len(rb.Sum32) || len(ra.Sum64) != len(rb.Sum64) {
		return diff("sums of %d+%d and %d+%d words", len(ra.Sum32), len(ra.Sum64), len(rb.Sum32), len(rb.Sum64))
	}
	for i := range ra.Sum32 {
		if ra.Sum32[i] != rb.Sum32[i] {
			return diff("word %d of the sum is %#x and %#x", i, ra.Sum32[i], rb.Sum32[i])
		}
	}
	for i := range ra.Sum64 {
		if ra.Sum64[i] != rb.Sum64[i] {
			return diff("word %d of the sum is %#x and %#x", i, ra.Sum64[i], rb.Sum64[i])
		}
	}
	if !slices.Equal(ra.Contributors, rb.Contributors) {
		return diff("contributors %v and %v", ra.Contributors, rb.Contributors)
	}
	if len(ra.Misbehaved) != len(rb.Misbehaved) {
		return diff("%d and %d misbehaved parties", len(ra.Misbehaved), len(rb.Misbehaved))
	}
	for i := range ra.Misbehaved {
		if ea, eb := ra.Misbehaved[i].Error(), rb.Misbehaved[i].Error(); ea != eb {
			return diff("misbehaved party %q and %q", ea, eb)
		}
	}
	return nil
}

// secaggRound runs one round with every message through its encoding. The
// clients run one after another on cpu, so each client's time is its own,
// and each masked input goes to the servers as it is made: one vector of
// the round is alive at a time. The server on cpu, and one on gpu when it
// is not nil, are given the same messages; each server's time is the sum of
// its work on every message.
func secaggRound(ctx context.Context, p *secagg.Params, dropout float64, cpu tensor.Backend, gpu *cuda.Backend, seed uint64) (roundStats, error) {
	n, dim := p.N(), p.Dim()
	round := secagg.RoundID{byte(seed), 0xc0}
	keys := make([]ed25519.PrivateKey, n)
	roster := make([]ed25519.PublicKey, n)
	idr := seededReader(seed + 1)
	for i := range keys {
		s := make([]byte, ed25519.SeedSize)
		io.ReadFull(idr, s)
		keys[i] = ed25519.NewKeyFromSeed(s)
		roster[i] = keys[i].Public().(ed25519.PublicKey)
	}
	// The parties that drop out after sharing their keys: the costliest
	// moment for the server, which must then rebuild their pairwise masks.
	order := rand.New(rand.NewPCG(seed, 99)).Perm(n)
	dropped := map[int]bool{}
	for _, i := range order[:int(math.Round(dropout*float64(n)))] {
		dropped[i] = true
	}
	x := make([]float64, dim)
	xr := rand.New(rand.NewPCG(seed, 7))
	for i := range x {
		x[i] = xr.Float64()*1.6 - 0.8
	}

	var st roundStats
	clock := make([]time.Duration, n)
	mask := make([]time.Duration, n)
	up, down := make([]int, n), make([]int, n)
	maskWords := make([]int, n)
	var ss roundServers
	defer func() {
		for _, s := range ss {
			s.srv.Close()
		}
	}()
	srv, err := secagg.NewServer(p, round, roster, cpu)
	if err != nil {
		return st, err
	}
	ss = append(ss, &roundServer{name: "CPU", srv: srv})
	if gpu != nil {
		rec := &recordingBackend{Backend: gpu}
		srv, err := secagg.NewServer(p, round, roster, rec)
		if err != nil {
			return st, err
		}
		ss = append(ss, &roundServer{name: "CUDA", srv: srv, rec: rec})
	}
	clients := make([]*secagg.Client, n)
	for i := range n {
		if clients[i], err = secagg.NewClient(p, round, uint32(i), keys[i], roster, cpu, seededReader(seed<<20|uint64(i))); err != nil {
			return st, err
		}
	}
	for i, c := range clients {
		var m *secagg.AdvertiseKeys
		if err := timedInto(&clock[i], func() (err error) { m, err = c.AdvertiseKeys(); return }); err != nil {
			return st, err
		}
		got, size, err := receive(ss, m, &clock[i])
		if err != nil {
			return st, err
		}
		up[i] += size
		if err := ss.add(func(srv *secagg.Server) error { return srv.AddAdvertiseKeys(got) }); err != nil {
			return st, err
		}
	}
	kls := make([]*secagg.KeyList, len(ss))
	for j, s := range ss {
		if err := s.do(func(srv *secagg.Server) (err error) { kls[j], err = srv.KeyList(); return }); err != nil {
			return st, err
		}
	}
	kl, err := broadcast(ss, "KeyList", kls)
	if err != nil {
		return st, err
	}
	for i, c := range clients {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		klFor, err := decode[secagg.KeyList](kl, &clock[i])
		if err != nil {
			return st, err
		}
		down[i] += len(kl)
		var m *secagg.ShareKeys
		if err := timedInto(&clock[i], func() (err error) { m, err = c.ShareKeys(klFor); return }); err != nil {
			return st, err
		}
		got, size, err := receive(ss, m, &clock[i])
		if err != nil {
			return st, err
		}
		up[i] += size
		if err := ss.add(func(srv *secagg.Server) error { return srv.AddShareKeys(got) }); err != nil {
			return st, err
		}
	}
	all := make([]map[uint32]*secagg.ShareBundle, len(ss))
	for j, s := range ss {
		if err := s.do(func(srv *secagg.Server) (err error) { all[j], err = srv.ShareBundles(); return }); err != nil {
			return st, err
		}
		if len(all[j]) != len(all[0]) {
			return st, fmt.Errorf("%w: %d share bundles from the %s server, %d from the %s server",
				ErrServersDiffer, len(all[0]), ss[0].name, len(all[j]), s.name)
		}
	}
	bundles := all[0]
	for i, c := range clients {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if dropped[i] {
			continue
		}
		bs := make([]*secagg.ShareBundle, len(ss))
		for j := range ss {
			bs[j] = all[j][uint32(i)]
		}
		enc, err := broadcast(ss, fmt.Sprintf("ShareBundle for party %d", i), bs)
		if err != nil {
			return st, err
		}
		b, err := decode[secagg.ShareBundle](enc, &clock[i])
		if err != nil {
			return st, err
		}
		down[i] += len(enc)
		maskWords[i] = (len(b.Shares) + 1) * dim
		var m *secagg.MaskedInput
		if err := timedInto(&mask[i], func() (err error) { m, err = c.MaskedInput(b, x); return }); err != nil {
			return st, err
		}
		clock[i] += mask[i]
		got, size, err := receive(ss, m, &clock[i])
		if err != nil {
			return st, err
		}
		up[i] += size
		for _, s := range ss {
			var d time.Duration
			err := timedInto(&d, func() error { return s.srv.AddMaskedInput(got) })
			s.st.collect += d
			s.st.total += d
			if err != nil {
				return st, fmt.Errorf("%s server: %w", s.name, err)
			}
		}
	}
	// Everything from here on is the servers' work after the last input.
	mark := make([]time.Duration, len(ss))
	for j, s := range ss {
		mark[j] = s.st.total
	}
	sls := make([]*secagg.SurvivorList, len(ss))
	for j, s := range ss {
		if err := s.do(func(srv *secagg.Server) (err error) { sls[j], err = srv.SurvivorList(); return }); err != nil {
			return st, err
		}
	}
	slBytes, err := broadcast(ss, "SurvivorList", sls)
	if err != nil {
		return st, err
	}
	survivors := sls[0].Survivors
	for _, u := range survivors {
		i := int(u)
		slFor, err := decode[secagg.SurvivorList](slBytes, &clock[i])
		if err != nil {
			return st, err
		}
		down[i] += len(slBytes)
		var m *secagg.ConsistencySig
		if err := timedInto(&clock[i], func() (err error) { m, err = clients[i].ConsistencyCheck(slFor); return }); err != nil {
			return st, err
		}
		got, size, err := receive(ss, m, &clock[i])
		if err != nil {
			return st, err
		}
		up[i] += size
		if err := ss.add(func(srv *secagg.Server) error { return srv.AddConsistencySig(got) }); err != nil {
			return st, err
		}
	}
	reqs := make([]*secagg.UnmaskRequest, len(ss))
	for j, s := range ss {
		if err := s.do(func(srv *secagg.Server) (err error) { reqs[j], err = srv.UnmaskRequest(); return }); err != nil {
			return st, err
		}
	}
	req, err := broadcast(ss, "UnmaskRequest", reqs)
	if err != nil {
		return st, err
	}
	for _, u := range survivors {
		i := int(u)
		reqFor, err := decode[secagg.UnmaskRequest](req, &clock[i])
		if err != nil {
			return st, err
		}
		down[i] += len(req)
		var m *secagg.UnmaskShares
		if err := timedInto(&clock[i], func() (err error) { m, err = clients[i].Unmask(reqFor); return }); err != nil {
			return st, err
		}
		got, size, err := receive(ss, m, &clock[i])
		if err != nil {
			return st, err
		}
		up[i] += size
		if err := ss.add(func(srv *secagg.Server) error { return srv.AddUnmaskShares(got) }); err != nil {
			return st, err
		}
	}
	// The masks the server must regenerate: every survivor's self mask, and
	// each dropped party's pairwise masks with the survivors that applied them.
	st.unmaskWords = len(survivors) * dim
	for u, b := range bundles {
		if !dropped[int(u)] {
			continue
		}
		for _, e := range b.Shares {
			if !dropped[int(e.Peer)] {
				st.unmaskWords += dim
			}
		}
	}
	results := make([]*secagg.Result, len(ss))
	for j, s := range ss {
		err := timedInto(&s.st.finish, func() (err error) { results[j], err = s.srv.Finish(); return })
		s.st.total += s.st.finish
		if err != nil {
			return st, fmt.Errorf("%s server: %w", s.name, err)
		}
		s.st.afterLast = s.st.total - mark[j]
		if j > 0 {
			if err := sameResult(ss[0].name, s.name, results[0], results[j]); err != nil {
				return st, err
			}
		}
		s.st.accName = cpu.Name()
		if s.rec != nil && s.rec.acc != nil {
			s.st.accName = s.rec.acc.Name()
			if a, ok := s.rec.acc.(*cuda.Accumulator); ok {
				u := a.Stats()
				s.st.uploads = &u
			}
		}
	}
	res := results[0]

	// The round must be right: the dequantised sum is within n steps of
	// the sum of the (clipped) inputs.
	got := make([]float64, dim)
	if err := cpu.DequantizeU32F64(p.FixedPoint(), got, res.Sum32, len(res.Contributors)); err != nil {
		return st, err
	}
	tol := float64(len(res.Contributors)) * p.FixedPoint().Step()
	for j := range got {
		if want := float64(len(res.Contributors)) * x[j]; math.Abs(got[j]-want) > tol {
			return st, fmt.Errorf("secagg round is wrong: parameter %d sums to %g, want %g", j, got[j], want)
		}
	}
	for _, u := range survivors {
		st.clientTotal = append(st.clientTotal, clock[u])
		st.clientMask = append(st.clientMask, mask[u])
		st.clientMaskWords = append(st.clientMaskWords, maskWords[u])
		st.up = append(st.up, up[u])
		st.down = append(st.down, down[u])
	}
	for _, s := range ss {
		st.servers = append(st.servers, s.st)
	}
	return st, nil
}
