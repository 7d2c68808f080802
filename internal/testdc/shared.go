//go:build linux

package testdc

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

var shared struct {
	mu  sync.Mutex
	dcs map[string]*DC
	err map[string]error
}

// Shared returns the test binary's DC of the flavour, starting it on first
// use. Without Samba or root the test is skipped, unless CI=true, where it
// fails: CI must run every test.
func Shared(t testing.TB, opts Options) *DC {
	t.Helper()
	Need(t, Available)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.dcs == nil {
		shared.dcs, shared.err = map[string]*DC{}, map[string]error{}
	}
	key := opts.flavour()
	if opts.Kerberos {
		key += "+kerberos" // the same template, another configuration
	}
	if err := shared.err[key]; err != nil {
		t.Fatal(err)
	}
	if dc := shared.dcs[key]; dc != nil {
		return dc
	}
	dc, err := Start(context.Background(), opts)
	if err != nil {
		shared.err[key] = err
		t.Fatal(err)
	}
	shared.dcs[key] = dc
	return dc
}

// Need skips the test when available says DCs cannot run here, unless
// CI=true, where it fails: CI must run every test.
func Need(t testing.TB, available func() error) {
	t.Helper()
	if err := available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and no test DC: %v", err)
		}
		t.Skip(err)
	}
}

// Main runs a test binary's tests and then stops its shared DCs. Use it as
// func TestMain(m *testing.M) { os.Exit(testdc.Main(m)) }.
func Main(m *testing.M) int {
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	for _, dc := range shared.dcs {
		dc.Close()
	}
	return code
}

// NewOU creates an OU for one test under DelegatedOU (so the delegated
// account has its rights there) and returns its DN. Names are made unique with the test's name, so tests sharing a DC do
// not meet.
func (dc *DC) NewOU(t testing.TB, name string) string {
	t.Helper()
	conn, err := dc.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	clean := strings.NewReplacer("/", "-", ",", "-", "=", "-", "+", "-", "\"", "", "\\", "", "<", "", ">", "", ";", "", "#", "").Replace(t.Name())
	if len(clean) > 40 {
		clean = clean[len(clean)-40:]
	}
	dn := fmt.Sprintf("OU=%s %s,%s", name, clean, DelegatedOU)
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"organizationalUnit"})
	if err := conn.Add(req); err != nil {
		t.Fatalf("testdc: create %s: %v", dn, err)
	}
	return dn
}
