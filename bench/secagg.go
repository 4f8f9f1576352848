package bench

import (
	"context"
	"crypto/ed25519"
	"encoding"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/cohort-mpc/cohort/protocols/secagg"
	"github.com/cohort-mpc/cohort/tensor"
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
		Doc:  "one SecAgg+ round in process: client and server time, bytes sent, against the AES-CTR keystream time of their masks",
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

// roundStats are the measurements of one round.
type roundStats struct {
	clientTotal, clientMask []time.Duration // per surviving client
	clientMaskWords         []int           // mask words each surviving client expanded
	up, down                []int           // bytes each surviving client sent and received
	serverTotal             time.Duration
	serverUnmask            time.Duration
	unmaskWords             int // mask words the server regenerated
}

func runSecAgg(ctx context.Context, opt Options, emit func(Result)) error {
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
	reps := opt.Reps
	if reps == 0 {
		reps = 3
		if opt.Quick || lit.N > 200 {
			reps = 1
		}
	}
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
		if err := ctx.Err(); err != nil {
			return err
		}
		st, err := secaggRound(p, opt.SecAgg.Dropout, backend, uint64(r))
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
	n := lit.Dim
	name := fmt.Sprintf("n=%d k=%d t=%d dropout=%g", lit.N, lit.K, lit.T, opt.SecAgg.Dropout)
	res := func(c, metric string, value float64, unit string, limit float64, note string) {
		r := Result{Suite: "secagg", Case: c, N: n, Metric: metric, Value: value, Unit: unit, Limit: limit, Note: name + "; " + note}
		if limit > 0 {
			r.Ratio = value / limit
		}
		emit(r)
	}
	res("client-total", "time", med(func(s roundStats) float64 { return medianDur(s.clientTotal) }), "s", 0,
		"median client, all five steps with encoding")
	res("client-mask", "time", med(func(s roundStats) float64 { return medianDur(s.clientMask) }), "s",
		med(func(s roundStats) float64 { return wordTime(medianInt(s.clientMaskWords)) }),
		"masked-input step (open shares, quantise, mask); limit: stdlib AES-CTR time for its (neighbours+1)·d words")
	res("server-total", "time", med(func(s roundStats) float64 { return s.serverTotal.Seconds() }), "s", 0,
		"decoding, validation, summing and unmasking")
	res("server-unmask", "time", med(func(s roundStats) float64 { return s.serverUnmask.Seconds() }), "s",
		med(func(s roundStats) float64 { return wordTime(s.unmaskWords) }),
		"reconstruction and unmasking; limit: stdlib AES-CTR time for the masks it regenerates")
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

// send encodes m (on the sender's clock) and decodes it (on the receiver's),
// returning the decoded copy and its size.
func send[T any, PT interface {
	*T
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}](m *T, senderClock, receiverClock *time.Duration) (*T, int, error) {
	var b []byte
	if err := timedInto(senderClock, func() (err error) { b, err = PT(m).MarshalBinary(); return }); err != nil {
		return nil, 0, err
	}
	out := new(T)
	if err := timedInto(receiverClock, func() error { return PT(out).UnmarshalBinary(b) }); err != nil {
		return nil, 0, err
	}
	return out, len(b), nil
}

// secaggRound runs one round with every message through its encoding. The
// clients run one after another, so each client's time is its own; the
// server's time is the sum of its work on every message.
func secaggRound(p *secagg.Params, dropout float64, backend tensor.Backend, seed uint64) (roundStats, error) {
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
	srv, err := secagg.NewServer(p, round, roster, backend)
	if err != nil {
		return st, err
	}
	defer srv.Close()
	clients := make([]*secagg.Client, n)
	for i := range n {
		if clients[i], err = secagg.NewClient(p, round, uint32(i), keys[i], roster, backend, seededReader(seed<<20|uint64(i))); err != nil {
			return st, err
		}
	}
	srvClock := &st.serverTotal
	for i, c := range clients {
		var m *secagg.AdvertiseKeys
		if err := timedInto(&clock[i], func() (err error) { m, err = c.AdvertiseKeys(); return }); err != nil {
			return st, err
		}
		got, size, err := send(m, &clock[i], srvClock)
		if err != nil {
			return st, err
		}
		up[i] += size
		if err := timedInto(srvClock, func() error { return srv.AddAdvertiseKeys(got) }); err != nil {
			return st, err
		}
	}
	var kl *secagg.KeyList
	if err := timedInto(srvClock, func() (err error) { kl, err = srv.KeyList(); return }); err != nil {
		return st, err
	}
	for i, c := range clients {
		var klFor *secagg.KeyList
		var size int
		var err error
		if klFor, size, err = send(kl, srvClock, &clock[i]); err != nil {
			return st, err
		}
		down[i] += size
		var m *secagg.ShareKeys
		if err := timedInto(&clock[i], func() (err error) { m, err = c.ShareKeys(klFor); return }); err != nil {
			return st, err
		}
		got, size, err := send(m, &clock[i], srvClock)
		if err != nil {
			return st, err
		}
		up[i] += size
		if err := timedInto(srvClock, func() error { return srv.AddShareKeys(got) }); err != nil {
			return st, err
		}
	}
	var bundles map[uint32]*secagg.ShareBundle
	if err := timedInto(srvClock, func() (err error) { bundles, err = srv.ShareBundles(); return }); err != nil {
		return st, err
	}
	for i, c := range clients {
		if dropped[i] {
			continue
		}
		b, size, err := send(bundles[uint32(i)], srvClock, &clock[i])
		if err != nil {
			return st, err
		}
		down[i] += size
		maskWords[i] = (len(b.Shares) + 1) * dim
		var m *secagg.MaskedInput
		if err := timedInto(&mask[i], func() (err error) { m, err = c.MaskedInput(b, x); return }); err != nil {
			return st, err
		}
		clock[i] += mask[i]
		got, size, err := send(m, &clock[i], srvClock)
		if err != nil {
			return st, err
		}
		up[i] += size
		if err := timedInto(srvClock, func() error { return srv.AddMaskedInput(got) }); err != nil {
			return st, err
		}
	}
	var sl *secagg.SurvivorList
	if err := timedInto(srvClock, func() (err error) { sl, err = srv.SurvivorList(); return }); err != nil {
		return st, err
	}
	for _, u := range sl.Survivors {
		i := int(u)
		slFor, size, err := send(sl, srvClock, &clock[i])
		if err != nil {
			return st, err
		}
		down[i] += size
		var m *secagg.ConsistencySig
		if err := timedInto(&clock[i], func() (err error) { m, err = clients[i].ConsistencyCheck(slFor); return }); err != nil {
			return st, err
		}
		got, size, err := send(m, &clock[i], srvClock)
		if err != nil {
			return st, err
		}
		up[i] += size
		if err := timedInto(srvClock, func() error { return srv.AddConsistencySig(got) }); err != nil {
			return st, err
		}
	}
	var req *secagg.UnmaskRequest
	if err := timedInto(srvClock, func() (err error) { req, err = srv.UnmaskRequest(); return }); err != nil {
		return st, err
	}
	for _, u := range sl.Survivors {
		i := int(u)
		reqFor, size, err := send(req, srvClock, &clock[i])
		if err != nil {
			return st, err
		}
		down[i] += size
		var m *secagg.UnmaskShares
		if err := timedInto(&clock[i], func() (err error) { m, err = clients[i].Unmask(reqFor); return }); err != nil {
			return st, err
		}
		got, size, err := send(m, &clock[i], srvClock)
		if err != nil {
			return st, err
		}
		up[i] += size
		if err := timedInto(srvClock, func() error { return srv.AddUnmaskShares(got) }); err != nil {
			return st, err
		}
	}
	// The masks the server must regenerate: every survivor's self mask, and
	// each dropped party's pairwise masks with the survivors that applied them.
	st.unmaskWords = len(sl.Survivors) * dim
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
	var res *secagg.Result
	if err := timedInto(&st.serverUnmask, func() (err error) { res, err = srv.Finish(); return }); err != nil {
		return st, err
	}
	st.serverTotal += st.serverUnmask

	// The round must be right: the dequantised sum is within n steps of
	// the sum of the (clipped) inputs.
	got := make([]float64, dim)
	if err := backend.DequantizeU32F64(p.FixedPoint(), got, res.Sum32, len(res.Contributors)); err != nil {
		return st, err
	}
	tol := float64(len(res.Contributors)) * p.FixedPoint().Step()
	for j := range got {
		if want := float64(len(res.Contributors)) * x[j]; math.Abs(got[j]-want) > tol {
			return st, fmt.Errorf("secagg round is wrong: parameter %d sums to %g, want %g", j, got[j], want)
		}
	}
	for _, u := range sl.Survivors {
		st.clientTotal = append(st.clientTotal, clock[u])
		st.clientMask = append(st.clientMask, mask[u])
		st.clientMaskWords = append(st.clientMaskWords, maskWords[u])
		st.up = append(st.up, up[u])
		st.down = append(st.down, down[u])
	}
	return st, nil
}
