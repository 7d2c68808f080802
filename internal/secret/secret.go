// Package secret holds credentials read from configuration so that they are
// never printed, logged or serialised by accident: every formatting path
// shows "[redacted]", and only Reveal gives the value.
package secret

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// Value is a secret string.
type Value struct{ v string }

// New wraps s.
func New(s string) Value { return Value{s} }

// Reveal returns the secret itself, for the one call that needs it.
func (s Value) Reveal() string { return s.v }

// IsSet reports whether the secret is non-empty.
func (s Value) IsSet() bool { return s.v != "" }

const redacted = "[redacted]"

func (s Value) show() string {
	if s.v == "" {
		return ""
	}
	return redacted
}

// String, GoString, Format, LogValue and the marshalers all redact.
func (s Value) String() string                { return s.show() }
func (s Value) GoString() string              { return fmt.Sprintf("secret.Value(%q)", s.show()) }
func (s Value) LogValue() slog.Value          { return slog.StringValue(s.show()) }
func (s Value) MarshalText() ([]byte, error)  { return []byte(s.show()), nil }
func (s Value) MarshalYAML() (any, error)     { return s.show(), nil }
func (s Value) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(s.show())) }
func (s *Value) UnmarshalText(b []byte) error { s.v = string(b); return nil }
func (s *Value) UnmarshalYAML(un func(any) error) error {
	var str string
	if err := un(&str); err != nil {
		return err
	}
	s.v = str
	return nil
}

// Resolve picks a secret from exactly one of its sources: the value written
// in the config (key), a file named by fileKey, or the environment variable
// env. It names the keys in its errors and never the secret.
func Resolve(inline Value, key, file, fileKey, env string) (Value, error) {
	if inline.IsSet() && file != "" {
		return Value{}, fmt.Errorf("%s and %s are both set; use one", key, fileKey)
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return Value{}, fmt.Errorf("%s: %w", fileKey, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return Value{}, fmt.Errorf("%s: %s is empty", fileKey, file)
		}
		return Value{v}, nil
	}
	if inline.IsSet() {
		return inline, nil
	}
	if env != "" {
		if v := os.Getenv(env); v != "" {
			return Value{v}, nil
		}
	}
	return Value{}, nil
}
