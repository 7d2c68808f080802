package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/doctor"
	"github.com/groupwriteback/groupwriteback/internal/graphsim"
	"github.com/groupwriteback/groupwriteback/internal/recording"
	"github.com/groupwriteback/groupwriteback/internal/testdc"
	"github.com/groupwriteback/groupwriteback/internal/testpg"
)

func TestMain(m *testing.M) {
	code := testdc.Main(m)
	testpg.CloseShared()
	if crashBuild.dir != "" {
		os.RemoveAll(crashBuild.dir)
	}
	os.Exit(code)
}

// sims are the emulators dcSetup started, by the path of their config.
var sims = map[string]*graphsim.Instance{}

// gid is cloud group k of test n. Tests that share a DC need their own ids,
// down to the last 12 digits that sAMAccountName carries; test 0 keeps the
// ids its golden file was made with.
func gid(n, k int) string {
	if n == 0 {
		return fmt.Sprintf("6a1e0c55-%04d-4f0e-9d3b-2c1a0b9f8e7d", k)
	}
	return fmt.Sprintf("6a1e0c55-%04d-4f0e-9d3b-2c1a0b%02d%04d", k, n, k)
}

// dcSetup starts graphsim with a small tenant whose synced users are the
// DC's first fixture users, and writes a config for a fresh OU. n numbers
// the test (see gid).
func dcSetup(t *testing.T, opts testdc.Options, n int) (string, string, *graphsim.Tenant) {
	t.Helper()
	dc := testdc.Shared(t, opts)
	fx := dc.Fixtures(t)
	ou := dc.NewOU(t, "cli")
	tf := &graphsim.TenantFile{TenantID: "7a1c3f9e-2b4d-4e8a-9c61-0d5e8f2a1b3c",
		Applications: []graphsim.Application{{AppID: "5b0f8a8e-3b55-4c5e-9f5c-1f6f0f2d7e10", PasswordCredentials: []graphsim.PasswordCredential{{SecretText: "s"}}}},
		Users: []map[string]any{
			{"id": "3f2b1c4d-0001-4a5b-8c6d-7e8f90a1b2c3", "displayName": "A", "userPrincipalName": "a@x", "onPremisesSyncEnabled": true, "onPremisesSecurityIdentifier": fx[0].SID},
			{"id": "3f2b1c4d-0002-4a5b-8c6d-7e8f90a1b2c3", "displayName": "B", "userPrincipalName": "b@x", "onPremisesSyncEnabled": true, "onPremisesDistinguishedName": fx[1].DN},
		},
		Groups: []map[string]any{
			{"id": gid(n, 1), "displayName": "Marketing", "mailEnabled": true, "mailNickname": "marketing",
				"securityEnabled": false, "groupTypes": []any{"Unified"}, "members": []any{"3f2b1c4d-0001-4a5b-8c6d-7e8f90a1b2c3"}},
			{"id": gid(n, 4), "displayName": "VPN users", "mailEnabled": false, "mailNickname": "vpn",
				"securityEnabled": true, "writebackConfiguration": map[string]any{"isEnabled": true},
				"members": []any{"3f2b1c4d-0001-4a5b-8c6d-7e8f90a1b2c3", "3f2b1c4d-0002-4a5b-8c6d-7e8f90a1b2c3"}},
		}}
	dir := t.TempDir()
	sim, err := graphsim.Start(graphsim.Options{Tenant: tf, CertDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	t.Cleanup(func() { delete(sims, filepath.Join(dir, "config.yaml")) })
	sims[filepath.Join(dir, "config.yaml")] = sim
	cfg := "cloud:\n  tenant_id: " + tf.TenantID + "\n  client_id: 5b0f8a8e-3b55-4c5e-9f5c-1f6f0f2d7e10\n  client_secret: s\n  graph_url: " + sim.URL +
		"\n  authority_url: " + sim.URL + "\n  ca_file: ca.pem\ndirectory:\n  url: " + dc.URL + "\n  bind_dn: " + testdc.DelegatedDN +
		"\n  password: " + testdc.DelegatedPassword + "\n  ca_file: " + dc.CAFile + "\n  base_dn: " + testdc.BaseDN + "\nwriteback:\n  target_ou: " + ou + "\n"
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, ou, sim.Server.Tenant()
}

func TestPlanAndSyncWithoutExchange(t *testing.T) {
	cfg, ou, tenant := dcSetup(t, testdc.Options{}, 0)
	out, errOut, code := runCLI(t, "--config", cfg, "plan", "-o", "json")
	if code != 0 {
		t.Fatalf("plan: exit %d: %s", code, errOut)
	}
	var plan planJSON
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("plan JSON: %v\n%s", err, out)
	}
	if plan.Version != 3 || plan.Kind != "plan" || len(plan.Operations.list) != 1 || plan.Operations.list[0].Action != "create" {
		t.Fatalf("plan = %+v", plan)
	}
	golden(t, "plan-without-exchange.json", strings.ReplaceAll(out, ou, "OU=TEST"))

	// The plan wrote nothing: plan again, same plan.
	again, _, _ := runCLI(t, "--config", cfg, "plan", "-o", "json")
	if again != out {
		t.Fatal("a second plan differs from the first: plan changed something")
	}

	// Nothing is written before enable.
	_, errOut, code = runCLI(t, "--config", cfg, "sync")
	if code != exitFatal || !strings.Contains(errOut, "writeback has not been enabled") {
		t.Fatalf("sync before enable: exit %d: %s", code, errOut)
	}
	// enable refuses Microsoft 365 writeback without the Exchange schema...
	out, _, code = runCLI(t, "--config", cfg, "enable")
	if code != exitFatal || !strings.Contains(out, "[FAIL] schema: Exchange") || !strings.Contains(out, "--without-exchange") ||
		!strings.Contains(out, "writeback stays disabled") {
		t.Fatalf("enable without Exchange: exit %d\n%s", code, out)
	}
	// ...unless told to write those groups without mail attributes.
	out, errOut, code = runCLI(t, "--config", cfg, "enable", "--without-exchange")
	if code != exitOK || !strings.Contains(out, "[warn] schema: Exchange") || !strings.Contains(out, "the first sync will do this:") ||
		!strings.Contains(out, "plan (full): 2 to create") || !strings.Contains(out, "writeback is enabled") {
		t.Fatalf("enable --without-exchange: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code = runCLI(t, "--config", cfg, "sync")
	if code != exitOK || !strings.Contains(out, "2 created") {
		t.Fatalf("sync: exit %d\n%s", code, out)
	}
	// A group that cannot be written makes sync exit 2, naming it.
	if err := tenant.UpdateGroup("6a1e0c55-0004-4f0e-9d3b-2c1a0b9f8e7d", map[string]any{
		"writebackConfiguration": map[string]any{"onPremisesGroupType": "universalDistributionGroup"}}); err != nil {
		t.Fatal(err)
	}
	out, _, code = runCLI(t, "--config", cfg, "sync")
	if code != exitPartial || !strings.Contains(out, `6a1e0c55-0004-4f0e-9d3b-2c1a0b9f8e7d "VPN users": not-writable:`) ||
		!strings.Contains(out, "writebackConfiguration.onPremisesGroupType: a security group can only be written back as universalSecurityGroup") {
		t.Fatalf("sync with an unwritable group: exit %d\n%s", code, out)
	}
}

func TestSyncAllInStep(t *testing.T) {
	cfg, _, _ := dcSetup(t, testdc.Options{Exchange: true, Anchor: true}, 1)
	if out, errOut, code := runCLI(t, "--config", cfg, "enable"); code != exitOK || !strings.Contains(out, "all prerequisites are met") {
		t.Fatalf("enable: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code := runCLI(t, "--config", cfg, "doctor", "-o", "json")
	var rep struct {
		OK     bool `json:"ok"`
		Checks []struct {
			Name, Status string
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitOK || !rep.OK || len(rep.Checks) < 10 {
		t.Fatalf("doctor -o json: exit %d, %v\n%s", code, err, out)
	}
	out, errOut, code := runCLI(t, "--config", cfg, "sync")
	if code != exitOK || !strings.Contains(out, "2 created") {
		t.Fatalf("sync: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code = runCLI(t, "--config", cfg, "sync", "--full")
	if code != exitOK || !strings.Contains(out, "sync (full): 0 created, 0 updated, 0 deleted, 0 quarantined, 2 unchanged") || !strings.Contains(out, "0 LDAP writes") {
		t.Fatalf("full sync in step: exit %d\n%s", code, out)
	}
	// show: one group, cloud side and AD side, with its operations.
	out, _, code = runCLI(t, "--config", cfg, "show", "vpn users")
	for _, want := range []string{"group " + gid(1, 4), "policy: written back as universalSecurityGroup",
		"dn: CN=VPN users_2c1a0b010004,", "members: 2", "status: in-step", " create applied CN=VPN users_2c1a0b010004,"} {
		if code != exitOK || !strings.Contains(out, want) {
			t.Fatalf("show: exit %d, lacks %q:\n%s", code, want, out)
		}
	}
	if _, errOut, code := runCLI(t, "--config", cfg, "show", "nothing like it"); code != exitFatal || !strings.Contains(errOut, "no group with the id") {
		t.Fatalf("show unknown: %d %s", code, errOut)
	}
	// disable shows its plan and wants a confirmation it cannot ask for here.
	out, errOut, code = runCLI(t, "--config", cfg, "disable")
	if code != exitFatal || !strings.Contains(out, "writeback.on_disable: delete") || !strings.Contains(out, "2 to delete") || !strings.Contains(errOut, "run with --yes") {
		t.Fatalf("disable without --yes: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = runCLI(t, "--config", cfg, "disable", "--yes")
	if code != exitOK || !strings.Contains(out, "writeback is disabled: 2 deleted") {
		t.Fatalf("disable --yes: exit %d\n%s%s", code, out, errOut)
	}
	_, errOut, code = runCLI(t, "--config", cfg, "sync")
	if code != exitFatal || !strings.Contains(errOut, "writeback was disabled on") {
		t.Fatalf("sync after disable: exit %d: %s", code, errOut)
	}
}

func TestUnreachableDirectoryIsFatal(t *testing.T) {
	_, cfg := demoSetup(t) // its directory URL points at nothing
	_, errOut, code := runCLI(t, "--config", cfg, "sync")
	// The summary and the fix first, the chain as detail (issue 24).
	if code != exitFatal || !strings.HasPrefix(errOut, "groupwriteback: the domain controller cannot be reached\n  fix: check that the DC in directory.url is up") ||
		!strings.Contains(errOut, "\n  detail: ") || !strings.Contains(errOut, "directory: connect to ldaps://127.0.0.1:636") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

// Logs scripts can rely on: every line of a cycle carries its run id,
// operation lines the group's name; plan --detailed-exitcode says whether
// there is anything to do.
func TestLogAndExitContracts(t *testing.T) {
	cfg, _, tenant := dcSetup(t, testdc.Options{Exchange: true, Anchor: true}, 10)
	b, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, append(b, []byte("log:\n  format: json\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, code := runCLI(t, "--config", cfg, "enable"); code != exitOK {
		t.Fatal("enable failed")
	}
	if _, _, code := runCLI(t, "--config", cfg, "plan", "--detailed-exitcode"); code != exitPartial {
		t.Fatalf("plan --detailed-exitcode with creates to make: exit %d, want 2", code)
	}
	_, errOut, code := runCLI(t, "--config", cfg, "sync")
	if code != exitOK {
		t.Fatalf("sync: exit %d\n%s", code, errOut)
	}
	lines, ops := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(errOut), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			continue // the progress line, not a log line
		}
		lines++
		if m["run_id"] == nil {
			t.Errorf("a cycle's log line without run_id: %s", line)
		}
		if n := strings.Count(line, `"run_id":`); n > 1 { // a map keeps one of them: count the text
			t.Errorf("run_id %d times in one line: %s", n, line)
		}
		if m["msg"] == "operation applied" {
			ops++
			if m["name"] == nil || m["name"] == "" {
				t.Errorf("an operation line without the group's name: %s", line)
			}
		}
	}
	if lines == 0 || ops == 0 {
		t.Fatalf("%d log lines, %d operation lines:\n%s", lines, ops, errOut)
	}
	if _, _, code := runCLI(t, "--config", cfg, "plan", "--detailed-exitcode"); code != exitOK {
		t.Fatalf("plan --detailed-exitcode with nothing to do: exit %d, want 0", code)
	}
	if err := tenant.UpdateGroup(gid(10, 4), map[string]any{"description": "changed"}); err != nil {
		t.Fatal(err)
	}
	out, _, code := runCLI(t, "--config", cfg, "plan", "--detailed-exitcode", "-o", "json")
	var plan planJSON
	if err := json.Unmarshal([]byte(out), &plan); err != nil || code != exitPartial || plan.Counts.Updated != 1 {
		t.Fatalf("plan of one change: exit %d, %v, counts %+v", code, err, plan.Counts)
	}
}

// doctor --print-delegation prints, for the configured OUs and the bind
// account as AD names it, the dsacls, PowerShell and samba-tool forms;
// the samba-tool form, run on the DC for an account with no rights yet,
// gives it exactly what doctor's probe needs. Before the account exists,
// the commands name it with placeholders, and say so.
func TestPrintDelegation(t *testing.T) {
	cfg, ou, _ := dcSetup(t, testdc.Options{}, 12)
	out, errOut, code := runCLI(t, "--config", cfg, "doctor", "--print-delegation")
	for _, w := range []string{
		`dsacls "` + ou + `" /I:T /G "CONTOSO\svc-groupwriteback:CCDC;group"`,
		`dsacls "` + ou + `" /I:S /G "CONTOSO\svc-groupwriteback:RPWP;;group"`,
		`$acl.AddAccessRule((New-Object System.DirectoryServices.ActiveDirectoryAccessRule $sid, 'CreateChild,DeleteChild', 'Allow', $group, 'All'))`,
		`samba-tool dsacl set --objectdn="` + ou + `" --sddl="(OA;CI;CCDC;bf967a9c-0de6-11d0-a285-00aa003049e2;;S-1-5-21-`,
	} {
		if code != exitOK || !strings.Contains(out, w) {
			t.Fatalf("doctor --print-delegation: exit %d, lacks %s\n%s%s", code, w, out, errOut)
		}
	}

	// A new account, with no rights: doctor fails on the OU; the printed
	// samba-tool commands, run on the DC, make it pass.
	dc := testdc.Shared(t, testdc.Options{})
	const user = "svc-deleg-12"
	newCfg, own := withNewAccount(t, dc, cfg, user, "Passw0rd-Deleg12!")
	rights := "ldap: may create, modify and delete groups in writeback.target_ou"
	doctorCheck := func() doctor.Status {
		t.Helper()
		out, _, _ := runCLI(t, "--config", newCfg, "doctor", "-o", "json")
		var rep doctorJSON
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("doctor -o json: %v\n%s", err, out)
		}
		for _, c := range rep.Checks {
			if c.Name == rights {
				return c.Status
			}
		}
		t.Fatalf("doctor has no check %q:\n%s", rights, out)
		return ""
	}
	if s := doctorCheck(); s != doctor.Fail {
		t.Fatalf("the new account's rights before the delegation: %s", s)
	}
	out, errOut, code = runCLI(t, "--config", newCfg, "doctor", "--print-delegation")
	ran := 0
	for _, l := range strings.Split(out, "\n") {
		if args, ok := strings.CutPrefix(l, "samba-tool "); ok && strings.Contains(l, ou) {
			dc.SambaTool(t, args)
			ran++
		}
	}
	if code != exitOK || ran != 2 {
		t.Fatalf("print-delegation for the new account: exit %d, %d samba-tool commands for %s\n%s%s", code, ran, ou, out, errOut)
	}
	if s := doctorCheck(); s != doctor.Pass {
		t.Fatalf("the new account's rights after the printed delegation: %s", s)
	}

	// An account AD does not hold yet: placeholders, said so.
	missing := strings.ReplaceAll(own, "CN="+user+",", "CN=svc-not-yet,")
	if err := os.WriteFile(newCfg, []byte(missing), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runCLI(t, "--config", newCfg, "doctor", "--print-delegation")
	for _, w := range []string{"was not read from AD", `"CONTOSO\svc-not-yet:CCDC;group"`, `$sid = (Get-ADUser -Identity 'svc-not-yet').SID`,
		`<the account's SID>`} {
		if code != exitOK || !strings.Contains(out, w) {
			t.Fatalf("print-delegation before the account exists: exit %d, lacks %s\n%s%s", code, w, out, errOut)
		}
	}
}

// syncedSetup is dcSetup's tenant n (two groups) enabled and synced once:
// a state with a history to move.
func syncedSetup(t *testing.T, n int) string {
	t.Helper()
	cfg, _, _ := dcSetup(t, testdc.Options{Exchange: true, Anchor: true}, n)
	if _, _, code := runCLI(t, "--config", cfg, "enable"); code != exitOK {
		t.Fatal("enable failed")
	}
	if _, _, code := runCLI(t, "--config", cfg, "sync"); code != exitOK {
		t.Fatal("sync failed")
	}
	return cfg
}

// Moving to a new server: export the state, import it beside a new
// configuration; writeback stays enabled, the history is there, and the
// next cycle has nothing to do.
func TestStateExportImport(t *testing.T) {
	cfg := syncedSetup(t, 13)
	export := filepath.Join(t.TempDir(), "state.json")
	out, errOut, code := runCLI(t, "--config", cfg, "state", "export", export)
	if code != exitOK || !strings.Contains(out, "writeback enabled") {
		t.Fatalf("export: exit %d\n%s%s", code, out, errOut)
	}
	if fi, err := os.Stat(export); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the export is %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	// The new server: the same configuration, a new state file.
	b, _ := os.ReadFile(cfg)
	newDir := filepath.Dir(cfg)
	newCfg := filepath.Join(newDir, "new.yaml")
	if err := os.WriteFile(newCfg, append(b, []byte("state:\n  path: "+filepath.Join(t.TempDir(), "new.db")+"\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runCLI(t, "--config", newCfg, "state", "import", export)
	if code != exitOK || !strings.Contains(out, "imported the state (writeback enabled; 2 groups") {
		t.Fatalf("import: exit %d\n%s%s", code, out, errOut)
	}
	out, _, _ = runCLI(t, "--config", newCfg, "status")
	if !strings.Contains(out, "writeback is enabled") || !strings.Contains(out, "full ok: 2 created") {
		t.Fatalf("status on the new server:\n%s", out)
	}
	if out, _, code := runCLI(t, "--config", newCfg, "sync"); code != exitOK || !strings.Contains(out, "0 LDAP writes") || !strings.Contains(out, "sync (delta)") {
		t.Fatalf("the first sync on the new server: exit %d\n%s", code, out)
	}
	if _, errOut, code := runCLI(t, "--config", newCfg, "state", "import", export); code != exitFatal || !strings.Contains(errOut, "not empty") {
		t.Fatalf("a second import: exit %d: %s", code, errOut)
	}
}

// show finds a group by a name it had, as audit --group does: the audit
// trail says which group it was (issue 24).
func TestShowFindsARenamedGroup(t *testing.T) {
	cfg, _, tenant := dcSetup(t, testdc.Options{Exchange: true, Anchor: true}, 24) // 24: no other test's groups
	if _, _, code := runCLI(t, "--config", cfg, "enable"); code != exitOK {
		t.Fatal("enable failed")
	}
	if _, errOut, code := runCLI(t, "--config", cfg, "sync"); code != exitOK {
		t.Fatalf("sync: %d %s", code, errOut)
	}
	if err := tenant.UpdateGroup(gid(24, 4), map[string]any{"displayName": "Remote access"}); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runCLI(t, "--config", cfg, "sync"); code != exitOK {
		t.Fatalf("sync: %d %s", code, errOut)
	}
	out, errOut, code := runCLI(t, "--config", cfg, "show", "VPN users")
	if code != exitOK || !strings.Contains(out, "group "+gid(24, 4)) || !strings.Contains(out, `formerly named "VPN users"`) ||
		!strings.Contains(out, "displayName: Remote access") {
		t.Fatalf("show by the old name: exit %d\n%s%s", code, out, errOut)
	}
	if _, _, code := runCLI(t, "--config", cfg, "show", "Never was"); code != exitFatal {
		t.Fatalf("show of no group: exit %d", code)
	}
}

// A recording replayed by graphsim can be enabled and synced, as the
// README says: doctor's permission checks are in the recording (issue 24).
func TestReplayedRecordingEnablesAndSyncs(t *testing.T) {
	dc := testdc.Shared(t, testdc.Options{Exchange: true, Anchor: true})
	ou := dc.NewOU(t, "replay")
	rec, err := recording.Load("../../internal/recording/testdata/sample")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sim, err := graphsim.Start(graphsim.Options{Replay: rec, CertDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	cfg := "cloud:\n  tenant_id: " + rec.TenantID + "\n  client_id: " + rec.ClientID + "\n  client_secret: " + graphsim.ReplaySecret + "\n  graph_url: " + sim.URL +
		"\n  authority_url: " + sim.URL + "\n  ca_file: ca.pem\ndirectory:\n  url: " + dc.URL + "\n  bind_dn: " + testdc.DelegatedDN +
		"\n  password: " + testdc.DelegatedPassword + "\n  ca_file: " + dc.CAFile + "\n  base_dn: " + testdc.BaseDN + "\nwriteback:\n  target_ou: " + ou + "\n"
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runCLI(t, "--config", path, "enable"); code != exitOK {
		t.Fatalf("enable against the replay: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code := runCLI(t, "--config", path, "sync")
	if (code != exitOK && code != exitPartial) || !strings.Contains(out, "sync (") || strings.Contains(out, " 0 created") {
		t.Fatalf("sync against the replay: exit %d\n%s%s", code, out, errOut)
	}
}

// withNewAccount makes a user account on dc with no rights, and writes,
// beside cfg, its configuration bound as that account; it returns the
// new configuration's path and text.
func withNewAccount(t *testing.T, dc *testdc.DC, cfg, user, password string) (path, text string) {
	t.Helper()
	dc.SambaTool(t, "user create "+user+" '"+password+"'")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	text = strings.NewReplacer("bind_dn: "+testdc.DelegatedDN, "bind_dn: CN="+user+",CN=Users,"+testdc.BaseDN,
		"password: "+testdc.DelegatedPassword, "password: "+password).Replace(string(b))
	path = filepath.Join(filepath.Dir(cfg), user+".yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, text
}

// A group deleted in AD by hand comes back, at the next full sync, with
// its objectSid, once the account holds the rights --print-delegation
// prints for writeback.restore_deleted (run here as printed, on the DC,
// for an account that had none); plan and sync say "restored from deleted
// objects".
func TestRestoreDeletedGroupCLI(t *testing.T) {
	cfg, ou, _ := dcSetup(t, testdc.Options{Exchange: true, Anchor: true}, 40)
	dc := testdc.Shared(t, testdc.Options{Exchange: true, Anchor: true})
	cfg, _ = withNewAccount(t, dc, cfg, "svc-restore-40", "Passw0rd-Restore40!")
	out, errOut, code := runCLI(t, "--config", cfg, "doctor", "--print-delegation")
	ran := 0
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "samba-tool "):
			dc.SambaTool(t, strings.TrimPrefix(l, "samba-tool "))
			ran++
		case strings.HasPrefix(l, "python3 -c "):
			// As printed, but with the test DC's smb.conf for the default one.
			l = strings.Replace(l, "lp.load_default()", `lp.load("`+filepath.Join(dc.Dir, "smb.conf")+`")`, 1)
			if out, err := exec.Command("sh", "-c", strings.Replace(l, "python3", "/usr/bin/python3", 1)).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v: %s", l, err, out)
			}
			ran++
		}
	}
	for _, w := range []string{`dsacls "CN=Deleted Objects,` + testdc.BaseDN + `" /takeownership`, `:CA;Reanimate Tombstones"`, "'ExtendedRight', 'Allow', [Guid]'45ec5156"} {
		if !strings.Contains(out, w) {
			t.Fatalf("print-delegation lacks %s:\n%s", w, out)
		}
	}
	if code != exitOK || ran != 4 {
		t.Fatalf("print-delegation: exit %d, ran %d commands\n%s%s", code, ran, out, errOut)
	}
	if out, _, _ := runCLI(t, "--config", cfg, "doctor"); !strings.Contains(out, "[ ok ] ldap: may restore deleted groups") {
		t.Fatalf("doctor after the printed delegation:\n%s", out)
	}
	if _, errOut, code := runCLI(t, "--config", cfg, "enable"); code != exitOK {
		t.Fatalf("enable: %s", errOut)
	}
	if _, errOut, code := runCLI(t, "--config", cfg, "sync"); code != exitOK {
		t.Fatalf("sync: %s", errOut)
	}
	vpn := dc.Search(t, ou, ldap.ScopeSingleLevel, "(adminDescription=Group_"+gid(40, 4)+")", "objectSid", "objectGUID")
	if len(vpn) != 1 {
		t.Fatalf("%d VPN users groups", len(vpn))
	}
	sid := directory.SIDString(vpn[0].GetRawAttributeValue("objectSid"))
	admin, err := dc.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.Del(ldap.NewDelRequest(vpn[0].DN, nil)); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runCLI(t, "--config", cfg, "plan", "--full")
	for _, w := range []string{"1 to create (1 restored from deleted objects)", "  restore " + vpn[0].DN, "restored from deleted objects: the group deleted from " + ou + ", objectSid " + sid,
		"from: CN=VPN users"} {
		if !strings.Contains(out, w) {
			t.Fatalf("plan --full: exit %d, lacks %q\n%s%s", code, w, out, errOut)
		}
	}
	out, errOut, code = runCLI(t, "--config", cfg, "sync", "--full")
	back := dc.Search(t, ou, ldap.ScopeSingleLevel, "(adminDescription=Group_"+gid(40, 4)+")", "objectSid", "member")
	if code != exitOK || !strings.Contains(out, `restored from deleted objects (the same AD objects, with their objectSid: ACLs and nestings that named them hold again): "VPN users`) ||
		len(back) != 1 || directory.SIDString(back[0].GetRawAttributeValue("objectSid")) != sid || len(back[0].GetAttributeValues("member")) != 2 {
		t.Fatalf("sync --full: exit %d, %d groups back\n%s%s", code, len(back), out, errOut)
	}
}
