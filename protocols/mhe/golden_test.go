package mhe

import (
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/cohort-mpc/cohort/internal/golden"
)

// presetGolden is what testdata/mhe/presets.json pins for each preset.
type presetGolden struct {
	Name          string  `json:"name"`
	LogN          int     `json:"logN"`
	Slots         int     `json:"slots"`
	Ring          string  `json:"ring"`
	Q             uint64  `json:"q"`
	LogQP         float64 `json:"logQP"`
	MaxLogQP      int     `json:"maxLogQP128"`
	LogScale      int     `json:"logScale"`
	FloodLogSigma int     `json:"floodLogSigma"`
	FloodBound    float64 `json:"floodBound"`
	XeSigma       float64 `json:"xeSigma"`
	Fingerprint   string  `json:"fingerprint"`
}

// TestGoldenPresets pins every preset: a change must be deliberate (run
// go test -run TestGoldenPresets -update and review the diff).
func TestGoldenPresets(t *testing.T) {
	var got []presetGolden
	for _, pr := range Presets() {
		p := mustParams(t, pr)
		fp := p.Fingerprint()
		got = append(got, presetGolden{Name: p.Name(), LogN: p.LogN(), Slots: p.Slots(), Ring: p.ckks.RingType().String(),
			Q: p.Q(), LogQP: float64(int(p.LogQP()*1000)) / 1000, MaxLogQP: p.MaxLogQP(), LogScale: p.LogScale(),
			FloodLogSigma: p.FloodLogSigma(), FloodBound: p.FloodBound(), XeSigma: 3.2, Fingerprint: hex.EncodeToString(fp[:])})
		if p.LogQP() > float64(p.MaxLogQP()) {
			t.Fatalf("%s: log QP above the 128-bit bound", pr)
		}
	}
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	const path = "../../testdata/mhe/presets.json"
	golden.Check(t, path, b, true)
}
