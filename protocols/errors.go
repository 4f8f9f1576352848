package protocols

import "fmt"

// Server stands for the server (the aggregator) where a party index is
// expected, as in PartyError.Party.
const Server = ^uint32(0)

// PartyError is an error caused by one party's message. It names the party,
// so that the receiver can exclude it and go on with the others.
type PartyError struct {
	Party uint32 // the party's index, or Server
	Step  string // the message type, e.g. "ShareKeys"
	Err   error  // wraps the protocol's sentinel error
}

func (e *PartyError) Error() string {
	if e.Party == Server {
		return fmt.Sprintf("server: %s: %v", e.Step, e.Err)
	}
	return fmt.Sprintf("party %d: %s: %v", e.Party, e.Step, e.Err)
}

func (e *PartyError) Unwrap() error { return e.Err }
