package anchor

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ethereum/go-ethereum/crypto"
)

// maxKeyFile bounds what LoadKey reads: a key is 64 hex digits, whitespace
// around them aside.
const maxKeyFile = 4096

// LoadKey reads a secp256k1 private key from the file at path: 64 hex
// digits, optionally prefixed by 0x and surrounded by whitespace, as
// go-ethereum's crypto.SaveECDSA writes. Its errors never quote the file's
// content.
func LoadKey(path string) (*ecdsa.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("anchor: key file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("anchor: key file: %w", err)
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("anchor: key file %s: longer than %d bytes", path, maxKeyFile)
	}
	b = bytes.TrimSpace(b)
	if bytes.HasPrefix(b, []byte("0x")) || bytes.HasPrefix(b, []byte("0X")) {
		b = b[2:]
	}
	if len(b) != 64 {
		return nil, fmt.Errorf("anchor: key file %s: holds %d characters, want 64 hex digits", path, len(b))
	}
	d := make([]byte, 32)
	if _, err := hex.Decode(d, b); err != nil {
		return nil, fmt.Errorf("anchor: key file %s: not hexadecimal", path)
	}
	key, err := crypto.ToECDSA(d)
	clear(d)
	if err != nil {
		return nil, fmt.Errorf("anchor: key file %s: not a valid secp256k1 private key", path)
	}
	return key, nil
}

// SaveKey writes key to a new file at path, readable by its owner only
// (mode 0600), in the format LoadKey reads. It does not overwrite an
// existing file.
func SaveKey(path string, key *ecdsa.PrivateKey) error {
	if key == nil {
		return errors.New("anchor: save key: nil key")
	}
	k, err := secp256k1Key(key)
	if err != nil {
		return err
	}
	d := crypto.FromECDSA(k)
	text := make([]byte, hex.EncodedLen(len(d))+1)
	hex.Encode(text, d)
	text[len(text)-1] = '\n'
	clear(d)
	defer clear(text)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("anchor: save key: %w", err)
	}
	_, err = f.Write(text)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("anchor: save key: %w", err)
	}
	return nil
}
