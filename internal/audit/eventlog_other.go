//go:build !windows

package audit

// OpenEventLog returns no sink: only Windows has an event log.
func OpenEventLog(string) (EventSink, error) { return nil, nil }
