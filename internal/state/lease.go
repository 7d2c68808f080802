package state

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// WriterLease is the name of the lease that says which instance writes.
const WriterLease = "writer"

// Lease is a lease as its holder got it.
type Lease struct {
	Name   string
	Holder string
	// Token is the fencing token: it grows each time the lease changes
	// hands (or is taken again after it ran out), never otherwise.
	Token int64
	// Acquired is when this token was granted, Expires when the lease runs
	// out unless renewed: both by the database's clock.
	Acquired, Expires time.Time
	// Previous is who held it before this token ("" for nobody, or for
	// the same holder).
	Previous string
}

// LeaseState is a lease as anyone sees it.
type LeaseState struct {
	Lease
	// Now is the database's clock when read: the lease is held while Now
	// is before Expires.
	Now time.Time
}

// Held says whether the lease is held by anyone.
func (l LeaseState) Held() bool { return l.Holder != "" && l.Now.Before(l.Expires) }

// ErrFenced: a write was refused because the writer lease it was made
// under is no longer held: another instance may be writing.
var ErrFenced = errors.New("the writer lease is no longer held by this instance")

// FencedError is a write refused by the fence, with the lease as it is.
type FencedError struct {
	What  string
	Token int64
	// Holder and HolderToken are the lease's holder and token now.
	Holder      string
	HolderToken int64
}

func (e *FencedError) Error() string {
	if e.Holder == "" {
		return fmt.Sprintf("store: %s refused: %v (token %d; the lease has run out)", e.What, ErrFenced, e.Token)
	}
	return fmt.Sprintf("store: %s refused: %v (token %d; %s holds token %d)", e.What, ErrFenced, e.Token, e.Holder, e.HolderToken)
}

func (e *FencedError) Unwrap() error { return ErrFenced }

// LeaseHeldError: the lease is held by another holder.
type LeaseHeldError struct {
	State LeaseState
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("store: the %s lease is held by %s (token %d) until %s", e.State.Name, e.State.Holder, e.State.Token,
		e.State.Expires.UTC().Format(time.RFC3339))
}

// Takeover is one time the writer lease changed hands.
type Takeover struct {
	Token    int64     `json:"token"`
	Holder   string    `json:"holder"`
	Previous string    `json:"previous,omitempty"`
	At       time.Time `json:"at"`
}

// Instance is one instance sharing the state, as it last reported itself.
type Instance struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Version string    `json:"version"`
	Role    string    `json:"role"`
	Started time.Time `json:"started"`
	Seen    time.Time `json:"seen"`
	// Detail is what the instance says of its role (a standby: its last
	// plan's summary).
	Detail string `json:"detail,omitempty"`
}

// HolderName is the instance name in a lease holder's id (name/nonce).
func HolderName(holder string) string {
	name, _, _ := strings.Cut(holder, "/")
	return name
}

// Explain says the fenced write for an admin.
func (e *FencedError) Explain() (summary, fix string) {
	return "this instance lost the writer lease and stopped writing; another instance writes now",
		"nothing to do if a standby took over (`groupwriteback status` shows the instances); if this repeats, check this machine's clock and its link to the shared state"
}

// Explain says the held lease for an admin.
func (e *LeaseHeldError) Explain() (summary, fix string) {
	return "another instance (" + e.State.Holder + ") holds the writer lease", "nothing to do: this instance stands by and takes over if the lease runs out"
}
