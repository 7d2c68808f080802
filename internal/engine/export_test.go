package engine

import "github.com/groupwriteback/groupwriteback/internal/gate"

// SetResolveSlice makes resolve list and look up about n members at a
// time, until the returned function puts it back.
func SetResolveSlice(n int) (restore func()) {
	old := resolveSlice
	resolveSlice = n
	return func() { resolveSlice = old }
}

// Gate is the engine's write gate, for tests that hand it an operation
// as a forged plan would.
func (e *Engine) Gate() *gate.Gate { return e.gate }
