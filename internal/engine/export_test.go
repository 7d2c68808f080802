package engine

// SetResolveSlice makes resolve list and look up about n members at a
// time, until the returned function puts it back.
func SetResolveSlice(n int) (restore func()) {
	old := resolveSlice
	resolveSlice = n
	return func() { resolveSlice = old }
}
