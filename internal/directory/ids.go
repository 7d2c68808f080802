package directory

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// GUIDString formats an objectGUID as AD shows it: the first three fields
// are stored little-endian.
func GUIDString(b []byte) string {
	if len(b) != 16 {
		return ""
	}
	u, err := uuid.FromBytes(guidSwap(b))
	if err != nil {
		return ""
	}
	return u.String()
}

// GUIDBytes is the wire form of a GUID string.
func GUIDBytes(s string) ([]byte, error) {
	u, err := uuid.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a GUID: %w", s, err)
	}
	return guidSwap(u[:]), nil
}

func guidSwap(b []byte) []byte {
	out := append([]byte{}, b...)
	out[0], out[1], out[2], out[3] = b[3], b[2], b[1], b[0]
	out[4], out[5] = b[5], b[4]
	out[6], out[7] = b[7], b[6]
	return out
}

// SIDString formats a binary objectSid as S-1-5-21-….
func SIDString(b []byte) string {
	if len(b) < 8 || int(b[1])*4+8 != len(b) {
		return ""
	}
	var auth uint64
	for _, x := range b[2:8] {
		auth = auth<<8 | uint64(x)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "S-%d-%d", b[0], auth)
	for i := 0; i < int(b[1]); i++ {
		fmt.Fprintf(&sb, "-%d", binary.LittleEndian.Uint32(b[8+4*i:]))
	}
	return sb.String()
}

// SIDBytes is the binary form of an S-1-… string.
func SIDBytes(s string) ([]byte, error) {
	parts := strings.Split(s, "-")
	if len(parts) < 3 || parts[0] != "S" {
		return nil, fmt.Errorf("%q is not a SID", s)
	}
	rev, err := strconv.ParseUint(parts[1], 10, 8)
	if err != nil {
		return nil, fmt.Errorf("%q is not a SID", s)
	}
	auth, err := strconv.ParseUint(parts[2], 10, 48)
	if err != nil {
		return nil, fmt.Errorf("%q is not a SID", s)
	}
	subs := parts[3:]
	if len(subs) > 15 {
		return nil, fmt.Errorf("%q has too many sub-authorities", s)
	}
	b := make([]byte, 8+4*len(subs))
	b[0], b[1] = byte(rev), byte(len(subs))
	for i := 0; i < 6; i++ {
		b[2+i] = byte(auth >> (8 * (5 - i)))
	}
	for i, sub := range subs {
		v, err := strconv.ParseUint(sub, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%q is not a SID", s)
		}
		binary.LittleEndian.PutUint32(b[8+4*i:], uint32(v))
	}
	return b, nil
}

// escapeBytes writes binary filter values as \xx escapes.
func escapeBytes(b []byte) string {
	var sb strings.Builder
	for _, x := range b {
		fmt.Fprintf(&sb, `\%02x`, x)
	}
	return sb.String()
}
