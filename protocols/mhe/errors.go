package mhe

import (
	"errors"
	"fmt"

	"github.com/cohort-mpc/cohort/protocols"
)

// Sentinel errors. Every error this package returns wraps one of these, so
// callers can tell a peer's fault from their own with errors.Is.
var (
	// ErrParams is an invalid parameter literal, an invalid setting (party
	// index, threshold) or values encoded under other parameters.
	ErrParams = errors.New("mhe: invalid parameters")
	// ErrStep is a step called out of order or twice, such as a second
	// decryption share for the same release request.
	ErrStep = errors.New("mhe: step out of order")
	// ErrBadMessage is a message that fails validation: wrong job, round or
	// request, a party outside the roster or the active set, a duplicate, a
	// vector of the wrong length. The error is a *PartyError naming the
	// party at fault.
	ErrBadMessage = errors.New("mhe: invalid message")
	// ErrTooFewShares ends a release that has fewer than t decryption shares
	// (or a key generation that lacks a party's share). No output is made.
	ErrTooFewShares = errors.New("mhe: too few shares")
	// ErrMalformed is a byte string that does not decode: wrong version or
	// type, parameters that differ from the local ones, truncated data,
	// coefficients out of range.
	ErrMalformed = errors.New("mhe: malformed message")
)

// PartyError is an error caused by one party's message, naming the party so
// that it can be excluded.
type PartyError = protocols.PartyError

// bad returns a *PartyError for party wrapping ErrBadMessage.
func bad(party uint32, step, format string, args ...any) error {
	return &PartyError{Party: party, Step: step, Err: fmt.Errorf("%w: %s", ErrBadMessage, fmt.Sprintf(format, args...))}
}
