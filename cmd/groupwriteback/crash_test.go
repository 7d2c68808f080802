//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/audit"
	"github.com/groupwriteback/groupwriteback/internal/config"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/graphsim"
	"github.com/groupwriteback/groupwriteback/internal/testdc"
)

// The crash suite: groupwriteback, built with -tags crashpoints, is killed
// with SIGKILL right after each LDAP write of a first sync, an update
// wave, a delete wave and disable, in turn. After one more run of the same
// command, AD must hold exactly what a run never killed leaves (a model
// kept beside the tenant), and every later sync must exit 0. Skipped with
// -short; CI runs it.

const crashGroups = 8

// crashModel is what AD must hold: per group number, its attributes and
// members ("u3" fixture user 3, "g2" group 2).
type crashModel map[int]crashGroup

type crashGroup struct {
	DisplayName, Description, GroupType, Mail string
	Members                                   []string
}

func (m crashModel) clone() crashModel {
	out := crashModel{}
	for k, g := range m {
		g.Members = slices.Clone(g.Members)
		out[k] = g
	}
	return out
}

// crashEnv is one tenant, OU and state file, numbered n for its own ids.
type crashEnv struct {
	t      *testing.T
	n      int
	bin    string
	cfg    string
	ou     string
	dc     *testdc.DC
	tenant *graphsim.Tenant
	fx     []testdc.User
}

func (e *crashEnv) id(k int) string {
	return fmt.Sprintf("6a1e0c55-%04d-4f0e-9d3b-2c1a0c%02d%04d", k, e.n, k)
}

// run runs the binary; crashAt > 0 kills it after that many writes. It
// returns the exit code, or -9 when the process was killed.
func (e *crashEnv) run(crashAt int, args ...string) (int, string) {
	e.t.Helper()
	cmd := exec.Command(e.bin, append([]string{"--config", e.cfg}, args...)...)
	cmd.Env = os.Environ()
	if crashAt > 0 {
		cmd.Env = append(cmd.Env, fmt.Sprintf("GROUPWRITEBACK_CRASH_AFTER_WRITES=%d", crashAt))
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return -9, out.String()
		}
		return ee.ExitCode(), out.String()
	}
	e.t.Fatal(err)
	return 0, ""
}

func newCrashEnv(t *testing.T, bin string, n int) (*crashEnv, crashModel) {
	t.Helper()
	opts := testdc.Options{Exchange: true, Anchor: true}
	dc := testdc.Shared(t, opts)
	e := &crashEnv{t: t, n: n, bin: bin, dc: dc, fx: dc.Fixtures(t), ou: dc.NewOU(t, fmt.Sprintf("crash%d", n))}
	tf := &graphsim.TenantFile{TenantID: "7a1c3f9e-2b4d-4e8a-9c61-0d5e8f2a1b3c",
		Applications: []graphsim.Application{{AppID: "5b0f8a8e-3b55-4c5e-9f5c-1f6f0f2d7e10", PasswordCredentials: []graphsim.PasswordCredential{{SecretText: "s"}}}}}
	for i := range 10 {
		tf.Users = append(tf.Users, map[string]any{"id": fmt.Sprintf("3f2b1c4d-%04d-4a5b-8c6d-7e8f90a1b2c3", i), "displayName": fmt.Sprintf("U%d", i),
			"userPrincipalName": fmt.Sprintf("u%d@contoso.test", i), "onPremisesSyncEnabled": true, "onPremisesSecurityIdentifier": e.fx[i].SID})
	}
	model := crashModel{}
	for k := 1; k <= crashGroups; k++ {
		g := map[string]any{"id": e.id(k), "displayName": fmt.Sprintf("Crash group %d", k), "description": fmt.Sprintf("group %d", k),
			"mailNickname": fmt.Sprintf("c%dg%d", n, k), "securityEnabled": true, "mailEnabled": false,
			"writebackConfiguration": map[string]any{"isEnabled": true}}
		m := crashGroup{DisplayName: g["displayName"].(string), Description: g["description"].(string), GroupType: "-2147483640"}
		if k <= 2 {
			g["groupTypes"], g["securityEnabled"], g["mailEnabled"] = []any{"Unified"}, false, true
			g["mail"] = fmt.Sprintf("c%dg%d@contoso.test", n, k)
			m.GroupType, m.Mail = "8", g["mail"].(string)
		}
		var members []any
		for j := range 3 {
			u := (k + j) % 10
			members = append(members, fmt.Sprintf("3f2b1c4d-%04d-4a5b-8c6d-7e8f90a1b2c3", u))
			m.Members = append(m.Members, fmt.Sprintf("u%d", u))
		}
		if k == 8 {
			members = append(members, e.id(3))
			m.Members = append(m.Members, "g3")
		}
		g["members"] = members
		tf.Groups = append(tf.Groups, g)
		model[k] = m
	}
	dir := t.TempDir()
	sim, err := graphsim.Start(graphsim.Options{Tenant: tf, CertDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	e.tenant = sim.Server.Tenant()
	cfg := "cloud:\n  tenant_id: " + tf.TenantID + "\n  client_id: 5b0f8a8e-3b55-4c5e-9f5c-1f6f0f2d7e10\n  client_secret: s\n  graph_url: " + sim.URL +
		"\n  authority_url: " + sim.URL + "\n  ca_file: ca.pem\ndirectory:\n  url: " + dc.URL + "\n  bind_dn: " + testdc.DelegatedDN +
		"\n  password: " + testdc.DelegatedPassword + "\n  ca_file: " + dc.CAFile + "\n  base_dn: " + testdc.BaseDN + "\nwriteback:\n  target_ou: " + e.ou + "\n"
	e.cfg = filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(e.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := e.run(0, "enable"); code != 0 {
		t.Fatalf("enable: exit %d\n%s", code, out)
	}
	return e, model
}

// updateWave renames, re-describes and re-members some groups in the cloud,
// and returns the model after it.
func (e *crashEnv) updateWave(m crashModel) crashModel {
	e.t.Helper()
	m = m.clone()
	user := func(i int) string { return fmt.Sprintf("3f2b1c4d-%04d-4a5b-8c6d-7e8f90a1b2c3", i) }
	must := func(err error) {
		if err != nil {
			e.t.Fatal(err)
		}
	}
	for _, k := range []int{1, 4} {
		must(e.tenant.UpdateGroup(e.id(k), map[string]any{"displayName": fmt.Sprintf("Renamed group %d", k)}))
		g := m[k]
		g.DisplayName = fmt.Sprintf("Renamed group %d", k)
		m[k] = g
	}
	for _, k := range []int{2, 5} {
		must(e.tenant.UpdateGroup(e.id(k), map[string]any{"description": "changed"}))
		g := m[k]
		g.Description = "changed"
		m[k] = g
	}
	must(e.tenant.RemoveMember(e.id(3), user(3)))
	must(e.tenant.AddMember(e.id(3), user(9)))
	must(e.tenant.AddMember(e.id(6), user(0)))
	must(e.tenant.AddMember(e.id(6), user(1)))
	for _, u := range []int{7, 8, 9} {
		must(e.tenant.RemoveMember(e.id(7), user(u)))
	}
	g3, g6, g7 := m[3], m[6], m[7]
	g3.Members = append(slices.DeleteFunc(g3.Members, func(s string) bool { return s == "u3" }), "u9")
	g6.Members = append(g6.Members, "u0", "u1")
	g7.Members = nil
	m[3], m[6], m[7] = g3, g6, g7
	return m
}

// deleteWave deletes groups 5 to 8 in the cloud for good.
func (e *crashEnv) deleteWave(m crashModel) crashModel {
	e.t.Helper()
	m = m.clone()
	for k := 5; k <= 8; k++ {
		if err := e.tenant.DeleteGroup(e.id(k)); err != nil {
			e.t.Fatal(err)
		}
		_ = e.tenant.PurgeDeleted(e.id(k)) // for good, where the group was only soft-deleted
		delete(m, k)
	}
	return m
}

// ad reads the OU into the model's terms.
func (e *crashEnv) ad() crashModel {
	e.t.Helper()
	entries := e.dc.Search(e.t, e.ou, ldap.ScopeWholeSubtree, "(objectClass=group)", "adminDescription", "displayName", "description", "groupType", "mail", "member")
	byDN := map[string]string{}
	for i, u := range e.fx[:10] {
		byDN[strings.ToLower(u.DN)] = fmt.Sprintf("u%d", i)
	}
	number := map[string]int{}
	for k := 1; k <= crashGroups; k++ {
		number["Group_"+e.id(k)] = k
	}
	for _, en := range entries {
		if k, ok := number[en.GetAttributeValue("adminDescription")]; ok {
			byDN[strings.ToLower(en.DN)] = fmt.Sprintf("g%d", k)
		}
	}
	out := crashModel{}
	for _, en := range entries {
		k, ok := number[en.GetAttributeValue("adminDescription")]
		if !ok {
			e.t.Fatalf("an object in the OU without a known anchor: %s", en.DN)
		}
		if _, dup := out[k]; dup {
			e.t.Fatalf("group %d is in AD twice", k)
		}
		g := crashGroup{DisplayName: en.GetAttributeValue("displayName"), Description: en.GetAttributeValue("description"),
			GroupType: en.GetAttributeValue("groupType"), Mail: en.GetAttributeValue("mail")}
		for _, dn := range en.GetAttributeValues("member") {
			name, ok := byDN[strings.ToLower(dn)]
			if !ok {
				name = "?" + dn
			}
			g.Members = append(g.Members, name)
		}
		out[k] = g
	}
	return out
}

func (m crashModel) String() string {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var b strings.Builder
	for _, k := range keys {
		g := m[k]
		ms := slices.Clone(g.Members)
		sort.Strings(ms)
		fmt.Fprintf(&b, "g%d %q %q type %s mail %q members %v\n", k, g.DisplayName, g.Description, g.GroupType, g.Mail, ms)
	}
	return b.String()
}

func TestCrashSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("the crash suite runs without -short (CI runs it)")
	}
	bin := crashBinary(t)
	type phase struct {
		name   string
		points int
		// setup runs the phases before this one, cleanly, and makes this
		// phase's change in the cloud; it returns the model after the phase.
		setup func(e *crashEnv, m crashModel) crashModel
		args  []string
	}
	syncOK := func(e *crashEnv) {
		if code, out := e.run(0, "sync"); code != 0 {
			e.t.Fatalf("sync: exit %d\n%s", code, out)
		}
	}
	phases := []phase{
		{"first sync", crashGroups, func(e *crashEnv, m crashModel) crashModel { return m }, []string{"sync"}},
		{"update wave", 8, func(e *crashEnv, m crashModel) crashModel { syncOK(e); return e.updateWave(m) }, []string{"sync"}},
		{"delete wave", 4, func(e *crashEnv, m crashModel) crashModel {
			syncOK(e)
			m = e.updateWave(m)
			syncOK(e)
			return e.deleteWave(m)
		}, []string{"sync"}},
		{"disable", 4, func(e *crashEnv, m crashModel) crashModel {
			syncOK(e)
			m = e.updateWave(m)
			syncOK(e)
			e.deleteWave(m)
			syncOK(e)
			return crashModel{}
		}, []string{"disable", "--yes"}},
	}
	n, converged, named, skipped := 0, 0, 0, 0
	for _, p := range phases {
		for k := 1; k <= p.points; k++ {
			n++
			t.Run(fmt.Sprintf("%s/killed after write %d", p.name, k), func(t *testing.T) {
				defer func() {
					if t.Skipped() {
						skipped++
					}
				}()
				e, m := newCrashEnv(t, bin, n)
				want := p.setup(e, m)
				code, out := e.run(k, p.args...)
				if code != -9 {
					t.Fatalf("not killed after write %d (exit %d): the phase has fewer writes than the suite expects\n%s", k, code, out)
				}
				if code, out := e.run(0, p.args...); code != 0 {
					t.Fatalf("the run after the kill: exit %d\n%s", code, out)
				}
				if got := e.ad(); got.String() != want.String() {
					t.Fatalf("AD after the kill and one more run:\n%s\nwant:\n%s", got, want)
				}
				if e.trailNamesEveryWrite(k) {
					named++
				}
				if p.name == "disable" {
					if code, out := e.run(0, "status"); code != 0 || !strings.Contains(out, "disabled") {
						t.Fatalf("status after disable: exit %d\n%s", code, out)
					}
				} else {
					for _, args := range [][]string{{"sync"}, {"sync", "--full"}, {"sync"}} {
						if code, out := e.run(0, args...); code != 0 || !strings.Contains(out, "0 LDAP writes") {
							t.Fatalf("%v after recovery: exit %d\n%s", args, code, out)
						}
					}
				}
				converged++
			})
		}
	}
	if skipped == n {
		t.Skip("no kill point ran: no DC here (each said why)")
	}
	t.Logf("crash suite: %d of %d kill points converged; the audit trail named every write at %d of %d", converged, n, named, n)
	if named != n {
		t.Fatalf("the audit trail named every write at %d of %d kill points", named, n)
	}
}

// trailNamesEveryWrite checks the audit trail after a run killed after
// its k-th write and the run after it: the killed run's intent with no
// outcome was settled from AD (applied: the write had been made), so the
// trail names all k writes of the killed run; no intent is left open; the
// killed run's summary says what it wrote; audit verify holds, and finds
// a line edited by hand.
func (e *crashEnv) trailNamesEveryWrite(k int) bool {
	t := e.t
	t.Helper()
	cfg, err := config.Load(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := audit.Read(cfg.Audit.File, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var killed int64
	applied := map[int64]int{}
	for _, en := range entries {
		switch {
		case en.Outcome == engine.OutcomeIntent:
			t.Errorf("an intent left open: %+v", en)
			return false
		case en.Settled:
			if en.Outcome != engine.OutcomeApplied {
				t.Errorf("the write the kill followed is settled %s, yet it was made", en.Outcome)
				return false
			}
			killed = en.RunID
		}
		if en.Outcome == engine.OutcomeApplied {
			applied[en.RunID]++
		}
	}
	if killed == 0 || applied[killed] != k {
		t.Errorf("the killed run (#%d) is named with %d writes in the trail, want %d", killed, applied[killed], k)
		return false
	}
	diedLine := regexp.MustCompile(fmt.Sprintf(`#%d [^\n]* died: \d+ (created|updated|deleted|quarantined)`, killed))
	if code, out := e.run(0, "status"); code != 0 || !diedLine.MatchString(out) {
		t.Errorf("status does not say what the killed run #%d wrote:\n%s", killed, out)
		return false
	}
	if code, out := e.run(0, "audit", "verify"); code != 0 || !strings.Contains(out, "the trail holds") {
		t.Errorf("audit verify: exit %d\n%s", code, out)
		return false
	}
	b, err := os.ReadFile(cfg.Audit.File)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	lines[1] = strings.Replace(lines[1], `"outcome":"applied"`, `"outcome":"failed"`, 1)
	lines[1] = strings.Replace(lines[1], `"outcome":"intent"`, `"outcome":"failed"`, 1)
	if err := os.WriteFile(cfg.Audit.File, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := e.run(0, "audit", "verify"); code != 1 || !strings.Contains(out, "line 2 ") || !strings.Contains(out, "does NOT hold") {
		t.Errorf("audit verify of a trail edited by hand: exit %d\n%s", code, out)
		return false
	}
	return true
}
