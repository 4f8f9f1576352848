package tensor

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
)

// TestMaskStreamVectors pins every backend's public mask and rounding streams
// to the committed test vectors of the wire contract
// (docs/wire/mask-stream.md). Vectors that start at a nonzero counter are
// checked by the aesctr package; the backend API always starts at zero.
func TestMaskStreamVectors(t *testing.T) {
	raw, err := os.ReadFile("../testdata/maskstream/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors []struct {
			Name, Seed, Label, Counter string
			U32, U64                   []string
		}
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatalf("vectors.json: %v", err)
	}
	fp, err := NewFixedPoint(FixedPointLiteral{RingBits: 32, Lo: 0, Hi: 1, MaxSummands: 1, Bits: 8})
	if err != nil {
		t.Fatal(err)
	}
	checked := map[string]int{}
	for _, v := range file.Vectors {
		if v.Counter != "0" {
			continue
		}
		var seed Seed
		if b, err := hex.DecodeString(v.Seed); err != nil || len(b) != len(seed) {
			t.Fatalf("%s: bad seed %q", v.Name, v.Seed)
		} else {
			copy(seed[:], b)
		}
		want32 := parseWords(t, v.Name, v.U32, 32)
		want64 := parseWords(t, v.Name, v.U64, 64)
		for _, b := range backends(t) {
			what := fmt.Sprintf("%s %s", v.Name, b.Name())
			switch v.Label {
			case "cohort/tensor/mask/v1":
				got32, got64 := make([]uint32, len(want32)), make([]uint64, len(want64))
				b.ExpandU32(got32, &seed)
				b.ExpandU64(got64, &seed)
				for i := range want32 {
					if uint64(got32[i]) != want32[i] {
						t.Fatalf("%s: ExpandU32 word %d = %08x, want %08x", what, i, got32[i], want32[i])
					}
				}
				eq(t, what+" ExpandU64", got64, want64)
			case "cohort/tensor/rounding/v1":
				// Values a third of the way between two levels round up
				// exactly when the stream's word, read as a uniform value in
				// [0, 1), is below 1/3.
				x := make([]float32, len(want32))
				for i := range x {
					x[i] = float32((float64(i%200) + 1.0/3) / 255)
				}
				got := make([]uint32, len(x))
				b.QuantizeF32U32(fp, got, x, &seed)
				for i := range x {
					if w := refQuantize(float64(x[i]), uint32(want32[i]), fp); uint64(got[i]) != w {
						t.Fatalf("%s: rounding of element %d = %d, want %d", what, i, got[i], w)
					}
				}
			default:
				t.Fatalf("%s: unknown label %q", v.Name, v.Label)
			}
		}
		checked[v.Label]++
	}
	if checked["cohort/tensor/mask/v1"] == 0 || checked["cohort/tensor/rounding/v1"] == 0 {
		t.Fatalf("vectors checked per label: %v, want both labels", checked)
	}
}

func parseWords(t *testing.T, name string, words []string, bits int) []uint64 {
	t.Helper()
	out := make([]uint64, len(words))
	for i, w := range words {
		v, err := strconv.ParseUint(w, 16, bits)
		if err != nil {
			t.Fatalf("%s: word %d: %v", name, i, err)
		}
		out[i] = v
	}
	return out
}
