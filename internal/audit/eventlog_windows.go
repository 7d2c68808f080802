//go:build windows

package audit

import "golang.org/x/sys/windows/svc/eventlog"

// OpenEventLog opens the Windows event log under source (the service's
// name, registered by `groupwriteback service install`).
func OpenEventLog(source string) (EventSink, error) {
	l, err := eventlog.Open(source)
	if err != nil {
		return nil, err
	}
	return l, nil
}
