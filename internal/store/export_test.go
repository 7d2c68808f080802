package store

import "time"

// SetWriteTimeout bounds write transactions to d until the returned
// function puts it back.
func SetWriteTimeout(d time.Duration) (restore func()) {
	old := writeTimeout
	writeTimeout = d
	return func() { writeTimeout = old }
}
