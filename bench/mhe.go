package bench

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/cohort-mpc/cohort/protocols/mhe"
)

func mheSuite() Suite {
	return Suite{
		Name: "mhe",
		Doc:  "threshold CKKS aggregation: setup, encrypt, aggregate, release, precision, against plain Lattigo",
		Run:  runMHE,
	}
}

// mheRun holds the figures of one protocols/mhe pipeline.
type mheRun struct {
	setupParty, setupServer      time.Duration
	encrypt, aggregate           time.Duration
	releaseShare, release        time.Duration
	upload, releaseUpload        int
	maxAbs, maxRel, predictedStd float64
	ciphertexts, slots, logN     int
}

func runMHE(ctx context.Context, opt Options, emit func(Result)) error {
	n, t, d := opt.MHE.Parties, opt.MHE.Threshold, opt.Params
	if n == 0 {
		n = 10
		if opt.Quick {
			n = 3
		}
	}
	if t == 0 {
		t = n
	}
	if t > n {
		return fmt.Errorf("%w: threshold %d above %d parties", mhe.ErrParams, t, n)
	}
	if d == 0 {
		d = 1 << 20
		if opt.Quick {
			d = 1 << 12
		}
	}
	values := mheValues(n, d, 1)
	ours, err := mhePipeline(n, t, values)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	base, err := mheBaseline(n, values)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("N=%d t=%d logN=%d, %d ciphertexts of %d real slots", n, t, ours.logN, ours.ciphertexts, ours.slots)
	res := func(c, metric string, value float64, unit string, limit, ratio float64, note string) {
		emit(Result{Suite: "mhe", Case: c, N: d, Metric: metric, Value: value, Unit: unit, Limit: limit, Ratio: ratio, Note: name + "; " + note})
	}
	res("setup-per-party", "time", ours.setupParty.Seconds(), "s", 0, 0, "key-generation share and threshold shares of party 0")
	res("setup-server", "time", ours.setupServer.Seconds(), "s", 0, 0, "collective public key from every share")
	res("encrypt-per-party", "time", ours.encrypt.Seconds(), "s", base.encrypt.Seconds(), base.encrypt.Seconds()/ours.encrypt.Seconds(),
		fmt.Sprintf("all cores; limit: plain Lattigo (1 goroutine, complex slots, top level of 3 moduli, 2^%d slots); ratio: baseline/ours", base.logSlots))
	res("upload-per-party", "bytes", float64(ours.upload), "B", float64(base.upload), float64(base.upload)/float64(ours.upload),
		"encoded ciphertexts of one party; limit: the baseline's; ratio: baseline/ours")
	res("aggregate", "time", ours.aggregate.Seconds(), "s", 0, 0, "sum of every party's ciphertexts")
	res("release-share-per-party", "time", ours.releaseShare.Seconds(), "s", 0, 0,
		fmt.Sprintf("public-key-switch share with flooding, party 0 (%d B)", ours.releaseUpload))
	res("server-release", "time", ours.release.Seconds(), "s", base.release.Seconds(), base.release.Seconds()/ours.release.Seconds(),
		"combine t shares and decrypt-decode at the receiver; limit: baseline decrypt+decode; ratio: baseline/ours")
	res("max-abs-error", "error", ours.maxAbs, "", 0, 0,
		fmt.Sprintf("released sum vs plaintext sum; predicted std %.2g; baseline (no flooding) %.2g", ours.predictedStd, base.maxAbs))
	res("max-rel-error", "error", ours.maxRel, "", 0, 0, fmt.Sprintf("where |sum| ≥ 0.01; baseline %.2g", base.maxRel))
	return nil
}

// mhePipeline runs a whole job in process: setup, every party encrypting its
// vector, the sum, and a release to a receiver by the first t parties.
func mhePipeline(n, t int, values [][]float64) (mheRun, error) {
	var r mheRun
	p, err := mhe.NewParams(mhe.PresetLarge)
	if err != nil {
		return r, err
	}
	d := len(values[0])
	r.ciphertexts, r.slots, r.logN = p.Ciphertexts(d), p.Slots(), p.LogN()
	r.predictedStd = p.ReleaseErrorStd(t)
	job := mhe.JobSeed{0xc0, 0x4e}
	parties := make([]*mhe.Party, n)
	agg, err := mhe.NewKeyAggregator(p, job, n)
	if err != nil {
		return r, err
	}
	var thr [][]*mhe.ThresholdShare
	for i := range parties {
		start := time.Now()
		if parties[i], err = mhe.NewParty(p, job, uint32(i), n, t, seededReader(uint64(100+i))); err != nil {
			return r, err
		}
		ks, err := parties[i].KeyGenShare()
		if err != nil {
			return r, err
		}
		ts, err := parties[i].ThresholdShares()
		if err != nil {
			return r, err
		}
		if i == 0 {
			r.setupParty = time.Since(start)
		}
		thr = append(thr, ts)
		start = time.Now()
		if err := agg.Add(ks); err != nil {
			return r, err
		}
		r.setupServer += time.Since(start)
	}
	start := time.Now()
	pk, err := agg.PublicKey()
	if err != nil {
		return r, err
	}
	r.setupServer += time.Since(start)
	for _, ts := range thr {
		for _, s := range ts {
			if err := parties[s.To].AddThresholdShare(s); err != nil {
				return r, err
			}
		}
	}
	enc, err := mhe.NewEncryptor(p, pk)
	if err != nil {
		return r, err
	}
	sum, err := mhe.NewSum(p, 1, d)
	if err != nil {
		return r, err
	}
	for i := range parties {
		start := time.Now()
		v, err := enc.Encrypt(1, uint32(i), values[i], 1, seededReader(uint64(200+i)))
		if err != nil {
			return r, err
		}
		if i == 0 {
			r.encrypt = time.Since(start)
			b, err := p.MarshalVector(v)
			if err != nil {
				return r, err
			}
			r.upload = len(b)
		}
		start = time.Now()
		if err := sum.Add(v, 1); err != nil {
			return r, err
		}
		r.aggregate += time.Since(start)
	}
	start = time.Now()
	total, err := sum.Result()
	if err != nil {
		return r, err
	}
	r.aggregate += time.Since(start)
	recv, err := mhe.NewReceiver(p, seededReader(300))
	if err != nil {
		return r, err
	}
	active := make([]uint32, t)
	for i := range active {
		active[i] = uint32(i)
	}
	req := &mhe.ReleaseRequest{Job: job, Round: 1, Active: active, Receiver: recv.PublicKey(), Aggregate: total}
	var shares []*mhe.ReleaseShare
	for i, id := range active {
		start := time.Now()
		s, err := parties[id].ReleaseShare(req)
		if err != nil {
			return r, err
		}
		if i == 0 {
			r.releaseShare = time.Since(start)
			b, err := s.MarshalBinary()
			if err != nil {
				return r, err
			}
			r.releaseUpload = len(b)
		}
		shares = append(shares, s)
	}
	start = time.Now()
	rel, err := mhe.NewRelease(p, req, n, t)
	if err != nil {
		return r, err
	}
	for _, s := range shares {
		if err := rel.Add(s); err != nil {
			return r, err
		}
	}
	out, err := rel.Finish()
	if err != nil {
		return r, err
	}
	got, err := recv.Decrypt(out)
	if err != nil {
		return r, err
	}
	r.release = time.Since(start)
	r.maxAbs, r.maxRel = maxErrors(values, got[:d])
	if r.maxAbs > 1 || math.IsNaN(r.maxAbs) {
		return r, fmt.Errorf("mhe pipeline is wrong: max absolute error %g", r.maxAbs)
	}
	return r, nil
}
