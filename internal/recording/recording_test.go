package recording_test

import (
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/graph"
	"github.com/groupwriteback/groupwriteback/internal/graphsim"
	"github.com/groupwriteback/groupwriteback/internal/recording"
	"github.com/groupwriteback/groupwriteback/internal/recording/capture"
	"github.com/groupwriteback/groupwriteback/internal/secret"
)

var update = flag.Bool("update", false, "rewrite testdata/sample from a fresh recording of examples/tenant.json")

const (
	sampleApp    = "5b0f8a8e-3b55-4c5e-9f5c-1f6f0f2d7e10"
	sampleSecret = "demo-groupwriteback-secret"
	marketing    = "6a1e0c55-0001-4f0e-9d3b-2c1a0b9f8e7d"
)

// newClient signs in to inst as app; wrap, when set, wraps its transport.
func newClient(t *testing.T, inst *graphsim.Instance, tenantID, app, pass string, wrap func(http.RoundTripper) http.RoundTripper) *graph.Client {
	t.Helper()
	cfg := graph.Config{TenantID: tenantID, ClientID: app, ClientSecret: secret.New(pass), GraphURL: inst.URL, AuthorityURL: inst.URL, CAFile: inst.CAFile}
	if err := cfg.Complete("cloud."); err != nil {
		t.Fatal(err)
	}
	hc, err := cfg.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		hc.Transport = wrap(hc.Transport)
	}
	cred, err := cfg.TokenCredential(hc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := graph.New(graph.Options{GraphURL: inst.URL, Credential: cred, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rounds reads one full round, lets change act on the tenant, then one
// delta round, and returns the snapshot they make.
// (as cloud record reads it: doctor's probes first).
func rounds(t *testing.T, c *graph.Client, change func()) *cloud.Snapshot {
	t.Helper()
	r, err := capture.Read(context.Background(), c, change)
	if err != nil {
		t.Fatal(err)
	}
	return r.Snapshot()
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func sample(t *testing.T) *graphsim.Instance {
	t.Helper()
	tf, err := graphsim.LoadTenantFile("../../examples/tenant.json")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := graphsim.Start(graphsim.Options{Tenant: tf, CertDir: t.TempDir(), Faults: graphsim.Faults{PageSize: 3}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	return inst
}

// record reads the sample tenant through a recorder and returns the
// snapshot and the recording.
func record(t *testing.T, pseudonymise bool) (*cloud.Snapshot, *recording.Recording) {
	t.Helper()
	inst := sample(t)
	var rec *recording.Recorder
	c := newClient(t, inst, inst.Server.Tenant().ID(), sampleApp, sampleSecret, func(next http.RoundTripper) http.RoundTripper {
		var err error
		if rec, err = recording.NewRecorder(next, inst.URL, inst.Server.Tenant().ID(), sampleApp, pseudonymise); err != nil {
			t.Fatal(err)
		}
		return rec
	})
	snap := rounds(t, c, func() {
		if err := inst.Server.Tenant().UpdateGroup(marketing, map[string]any{"displayName": "Marketing EMEA"}); err != nil {
			t.Fatal(err)
		}
	})
	return snap, rec.Recording()
}

// replay serves rec with graphsim and reads it as the client does.
func replay(t *testing.T, rec *recording.Recording) *cloud.Snapshot {
	t.Helper()
	inst, err := graphsim.Start(graphsim.Options{Replay: rec, CertDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	return rounds(t, newClient(t, inst, rec.TenantID, rec.ClientID, graphsim.ReplaySecret, nil), func() {})
}

// TestRoundTrip: what the client reads from a replay is exactly what it
// read while recording, and the recording holds no secret.
func TestRoundTrip(t *testing.T) {
	want, rec := record(t, false)
	dir := t.TempDir()
	if err := rec.Save(dir); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, recording.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{sampleSecret, "Bearer", "access_token", "Authorization", "client_secret", "oauth2"} {
		if strings.Contains(string(raw), s) {
			t.Errorf("the recording holds %q", s)
		}
	}
	if fi, _ := os.Stat(filepath.Join(dir, recording.FileName)); fi.Mode().Perm() != 0o600 {
		t.Errorf("the recording is %v, want 0600", fi.Mode().Perm())
	}
	loaded, err := recording.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := replay(t, loaded); jsonOf(t, got) != jsonOf(t, want) {
		t.Fatalf("replayed snapshot differs:\n%s\nwant\n%s", jsonOf(t, got), jsonOf(t, want))
	}
	if want.Groups[marketing].DisplayName != "Marketing EMEA" {
		t.Fatal("the delta round was not recorded")
	}
}

// TestPseudonymised: no name, address, identifier or id of the tenant is
// left, yet the replay holds together: every member is a known object.
func TestPseudonymised(t *testing.T) {
	want, rec := record(t, true)
	raw := jsonOf(t, rec)
	for _, g := range want.Groups {
		for _, s := range []string{g.ID, g.DisplayName, g.Mail, g.OnPremisesSecurityIdentifier} {
			if s != "" && strings.Contains(raw, s) {
				t.Errorf("the pseudonymised recording holds %q", s)
			}
		}
	}
	for _, u := range want.Users {
		for _, s := range []string{u.ID, u.UserPrincipalName, u.OnPremisesDistinguishedName} {
			if s != "" && strings.Contains(raw, s) {
				t.Errorf("the pseudonymised recording holds %q", s)
			}
		}
	}
	got := replay(t, rec)
	if len(got.Groups) != len(want.Groups) || len(got.Users) != len(want.Users) {
		t.Fatalf("replay: %d groups, %d users; recorded %d, %d", len(got.Groups), len(got.Users), len(want.Groups), len(want.Users))
	}
	for id, g := range got.Groups {
		for m := range g.Members.All() {
			if got.Users[m] == nil && got.Groups[m] == nil {
				t.Errorf("group %s: member %s is no object of the recording", id, m)
			}
		}
	}
}

// TestSampleFixture: the recording kept in testdata (made with graphsim
// from examples/tenant.json; -update makes it again) replays to what the
// client reads from the emulator itself.
func TestSampleFixture(t *testing.T) {
	want, rec := record(t, false)
	if *update {
		if err := rec.Save("testdata/sample"); err != nil {
			t.Fatal(err)
		}
	}
	fixture, err := recording.Load("testdata/sample")
	if err != nil {
		t.Fatal(err)
	}
	if got := replay(t, fixture); jsonOf(t, got) != jsonOf(t, want) {
		t.Fatalf("the fixture replays to another tenant than examples/tenant.json (go test -update makes it again):\n%s\nwant\n%s", jsonOf(t, got), jsonOf(t, want))
	}
}
