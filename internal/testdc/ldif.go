//go:build linux

package testdc

import (
	"encoding/base64"
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/testca"
)

// splitLDIF splits "name: value" or "name:: base64".
func splitLDIF(l string) (name, value string, b64 bool) {
	name, value, _ = strings.Cut(l, ":")
	if strings.HasPrefix(value, ":") {
		return name, strings.TrimSpace(value[1:]), true
	}
	return name, strings.TrimSpace(value), false
}

func decodeB64(s string) string {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return s
	}
	return string(b)
}

// tempCert makes a CA and server certificate for a DC used only while a
// template is made.
func tempCert(addr string) ([]byte, *testca.Issued, error) {
	ca, err := testca.New("testdc template CA")
	if err != nil {
		return nil, nil, err
	}
	cert, err := ca.Server(addr)
	if err != nil {
		return nil, nil, err
	}
	return ca.CertPEM(), cert, nil
}
