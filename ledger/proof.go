package ledger

import (
	"fmt"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

func proofInclusion(index, size uint64) (proof.Nodes, error) {
	pn, err := proof.Inclusion(index, size)
	if err != nil {
		return proof.Nodes{}, fmt.Errorf("%w: %v", ErrRange, err)
	}
	return pn, nil
}

func proofConsistency(size1, size2 uint64) (proof.Nodes, error) {
	pn, err := proof.Consistency(size1, size2)
	if err != nil {
		return proof.Nodes{}, fmt.Errorf("%w: %v", ErrRange, err)
	}
	return pn, nil
}

// rehash reads the perfect nodes a proof needs and folds the ephemeral one.
func (l *Log) rehash(pn proof.Nodes) ([][]byte, error) {
	hs, err := l.nodes(pn.IDs)
	if err != nil {
		return nil, err
	}
	return pn.Rehash(hs, rfc6962.DefaultHasher.HashChildren)
}

// VerifyInclusion checks an inclusion proof of the entry with the given
// encoding at index in a tree of size with root.
func VerifyInclusion(entry []byte, index, size uint64, p [][]byte, root [32]byte) error {
	lh := LeafHash(entry)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, lh[:], p, root[:]); err != nil {
		return fmt.Errorf("%w: inclusion of entry %d in size %d: %v", ErrProof, index, size, err)
	}
	return nil
}

// VerifyConsistency checks a consistency proof between two tree heads.
func VerifyConsistency(size1, size2 uint64, p [][]byte, root1, root2 [32]byte) error {
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, size1, size2, p, root1[:], root2[:]); err != nil {
		return fmt.Errorf("%w: consistency of sizes %d and %d: %v", ErrProof, size1, size2, err)
	}
	return nil
}
