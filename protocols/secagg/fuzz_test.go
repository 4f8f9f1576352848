package secagg

import (
	"bytes"
	"encoding"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// wireFuzz is the body of every FuzzUnmarshal<Type>: decoding never panics,
// fails only with ErrMalformed naming the type, and whatever decodes
// re-encodes to exactly the input (no malleability), and decodes again to
// the same value. The corpus is seeded with every golden vector (those of
// other types exercise the type check) and a few short inputs.
func wireFuzz[T encoding.BinaryMarshaler, P wireMsg[T]](f *testing.F, name string) {
	for g := range wireGolden() {
		f.Add(wireReadHex(f, g))
	}
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, in []byte) {
		var m T
		if err := P(&m).UnmarshalBinary(in); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if msg := strings.TrimPrefix(err.Error(), "secagg: malformed message: "+name); !strings.HasPrefix(msg, ".") && !strings.HasPrefix(msg, ":") {
				t.Fatalf("error %q does not name %s", err, name)
			}
			return
		}
		out, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded %x but cannot re-encode: %v", in, err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("not canonical:\n  in %x\n out %x", in, out)
		}
		var m2 T
		if err := P(&m2).UnmarshalBinary(out); err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("second decode differs (%v)", err)
		}
	})
}

func FuzzUnmarshalAdvertiseKeys(f *testing.F) {
	wireFuzz[AdvertiseKeys](f, "AdvertiseKeys")
}

func FuzzUnmarshalKeyList(f *testing.F) { wireFuzz[KeyList](f, "KeyList") }

func FuzzUnmarshalShareKeys(f *testing.F) { wireFuzz[ShareKeys](f, "ShareKeys") }

func FuzzUnmarshalShareBundle(f *testing.F) { wireFuzz[ShareBundle](f, "ShareBundle") }

func FuzzUnmarshalMaskedInput(f *testing.F) { wireFuzz[MaskedInput](f, "MaskedInput") }

func FuzzUnmarshalSurvivorList(f *testing.F) { wireFuzz[SurvivorList](f, "SurvivorList") }

func FuzzUnmarshalConsistencySig(f *testing.F) {
	wireFuzz[ConsistencySig](f, "ConsistencySig")
}

func FuzzUnmarshalUnmaskRequest(f *testing.F) {
	wireFuzz[UnmaskRequest](f, "UnmaskRequest")
}

func FuzzUnmarshalUnmaskShares(f *testing.F) { wireFuzz[UnmaskShares](f, "UnmaskShares") }

func FuzzUnmarshalShare(f *testing.F) { wireFuzz[Share](f, "Share") }

func FuzzUnmarshalSharePlaintext(f *testing.F) {
	wireFuzz[SharePlaintext](f, "SharePlaintext")
}
