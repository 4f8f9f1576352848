package secagg

import (
	"errors"
	"fmt"

	"github.com/cohort-mpc/cohort/protocols"
)

// Sentinel errors. Every error a step returns wraps one of these (or
// ErrMalformed, ErrDecrypt, ErrParams), so callers can tell a peer's fault
// from their own with errors.Is.
var (
	// ErrStep is a step called out of order or twice.
	ErrStep = errors.New("secagg: step out of order")
	// ErrBadMessage is a message that fails validation: wrong round, wrong
	// sender or receiver, bad signature, unexpected or missing entries. The
	// error is a *PartyError naming the party at fault.
	ErrBadMessage = errors.New("secagg: invalid message")
	// ErrTooFewSurvivors ends a round that no longer has enough parties (or
	// shares) to go on. No partial output is produced.
	ErrTooFewSurvivors = errors.New("secagg: too few survivors")
	// ErrConflict is an honest client's refusal of a server that showed it
	// inconsistent views of the round (different survivor lists, a second
	// unmasking request).
	ErrConflict = errors.New("secagg: server is inconsistent")
	// ErrBackend is a failure of the tensor backend that holds the server's
	// sum (a GPU's memory or launch failed). The round cannot go on; no
	// party is at fault.
	ErrBackend = errors.New("secagg: tensor backend failed")
)

// PartyError is an error caused by one party's message, naming the party so
// that it can be excluded.
type PartyError = protocols.PartyError

// bad returns a *PartyError for party wrapping ErrBadMessage.
func bad(party uint32, step, format string, args ...any) error {
	return &PartyError{Party: party, Step: step, Err: fmt.Errorf("%w: %s", ErrBadMessage, fmt.Sprintf(format, args...))}
}
