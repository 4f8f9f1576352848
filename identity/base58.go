package identity

import "fmt"

// The Bitcoin base58 alphabet, used by multibase's base58btc ('z').
const b58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// base58Encode encodes b in base58btc. Inputs here are public keys, so the
// data-dependent loops leak nothing secret.
func base58Encode(b []byte) string {
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	// Repeated division of the big-endian number b by 58, digits in reverse.
	num := append([]byte(nil), b[zeros:]...)
	var digits []byte
	for len(num) > 0 {
		var rem int
		out := num[:0]
		for _, d := range num {
			acc := rem<<8 | int(d)
			q := acc / 58
			rem = acc % 58
			if len(out) > 0 || q != 0 {
				out = append(out, byte(q))
			}
		}
		digits = append(digits, b58Alphabet[rem])
		num = out
	}
	s := make([]byte, zeros, zeros+len(digits))
	for i := range s {
		s[i] = '1'
	}
	for i := len(digits) - 1; i >= 0; i-- {
		s = append(s, digits[i])
	}
	return string(s)
}

var b58Index = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(b58Alphabet); i++ {
		t[b58Alphabet[i]] = int8(i)
	}
	return t
}()

// base58Decode decodes a base58btc string.
func base58Decode(s string) ([]byte, error) {
	if len(s) > 256 {
		return nil, fmt.Errorf("base58 string of %d characters is too long", len(s))
	}
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	var num []byte // big-endian
	for i := zeros; i < len(s); i++ {
		v := b58Index[s[i]]
		if v < 0 {
			return nil, fmt.Errorf("invalid base58 character %q at %d", s[i], i)
		}
		carry := int(v)
		for j := len(num) - 1; j >= 0; j-- {
			acc := int(num[j])*58 + carry
			num[j] = byte(acc)
			carry = acc >> 8
		}
		for carry > 0 {
			num = append([]byte{byte(carry)}, num...)
			carry >>= 8
		}
	}
	return append(make([]byte, zeros), num...), nil
}
