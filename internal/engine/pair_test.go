package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/directory/directorytest"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/graphsim"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/secret"
	"github.com/groupwriteback/groupwriteback/internal/state"
	"github.com/groupwriteback/groupwriteback/internal/store"
	"github.com/groupwriteback/groupwriteback/internal/testdc"
)

// Two DCs of one domain, the second joined to the first. A cycle works on
// DC1 until DC1 dies in the middle of it (after its writes so far reached
// DC2, as replication brings them within seconds); the cycle carries on
// on DC2 and completes with every group and member written once. DC1,
// back, replicates the same end state; the next full cycle writes nothing.
func TestFailoverBetweenTwoDCs(t *testing.T) {
	onlyOn(t, directorytest.Samba, "failover between two replicating DCs is directory.Client's, over two real DCs")
	testdc.Need(t, testdc.PairAvailable)
	ctx := context.Background()
	p, err := testdc.StartPair(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	people, ou := p.DC1.NewOU(t, "people"), p.DC1.NewOU(t, "wb")
	var names []string
	for i := range 20 {
		names = append(names, fmt.Sprintf("pair%02d", i))
	}
	users := p.DC1.AddUsers(t, people, names)
	tf := &graphsim.TenantFile{TenantID: tenantID, Applications: []graphsim.Application{{AppID: appID,
		PasswordCredentials: []graphsim.PasswordCredential{{SecretText: appPass}}}}}
	for i, u := range users {
		tf.Users = append(tf.Users, map[string]any{"id": userID(i), "displayName": u.Name, "userPrincipalName": u.Name + "@contoso.test",
			"onPremisesSyncEnabled": true, "onPremisesSecurityIdentifier": u.SID})
	}
	const groups = 10
	for g := range groups {
		var members []any
		for i := range 8 {
			members = append(members, userID((g+i)%len(users)))
		}
		tf.Groups = append(tf.Groups, map[string]any{"id": groupID(g + 1), "displayName": fmt.Sprintf("Pair %d", g+1), "mailNickname": fmt.Sprintf("p%d", g),
			"mailEnabled": false, "securityEnabled": true, "writebackConfiguration": map[string]any{"isEnabled": true}, "members": members})
	}
	if err := p.Replicate(ctx, p.DC2, p.DC1); err != nil { // the OUs and users
		t.Fatal(err)
	}
	_, gc := startCloud(t, tf)
	dcfg := directory.Config{URLs: []string{p.DC1.URL, p.DC2.URL}, BindDN: testdc.DelegatedDN, Password: secret.New(testdc.DelegatedPassword),
		CAFile: p.DC1.CAFile, BaseDN: testdc.BaseDN}
	dir, err := dcfg.Open(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.SetEnablement(ctx, state.Enablement{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	eng := engine.New(gc, dir, dir, st, engine.Config{TenantID: tenantID, BaseDN: testdc.BaseDN, TargetOU: ou, DeleteThreshold: 500,
		Policy: policy.Options{Naming: policy.NamingDisplayName}}, nil)

	adds := 0
	dir.OnOperation(func(op string, _ time.Duration, err error) {
		if op != "add" || err != nil {
			return
		}
		if adds++; adds == groups/2 {
			if err := p.Replicate(ctx, p.DC2, p.DC1); err != nil {
				t.Error(err)
			}
			p.DC1.Kill()
		}
	})
	res, err := eng.Run(ctx, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Counts.Created != groups || res.Counts.Failed != 0 || len(res.Failures) != 0 {
		t.Fatalf("the cycle: %+v, failures %+v", res.Counts, res.Failures)
	}
	if dir.URL() != p.DC2.URL || dir.Counters().Failovers != 1 {
		t.Fatalf("at %s after %d failovers, want %s after 1", dir.URL(), dir.Counters().Failovers, p.DC2.URL)
	}
	endState := func(dc *testdc.DC) {
		t.Helper()
		got := dc.Search(t, ou, ldap.ScopeSingleLevel, "(objectClass=group)", "member")
		if len(got) != groups {
			t.Fatalf("%s holds %d groups, want %d", dc.Addr, len(got), groups)
		}
		for _, e := range got {
			if n := len(e.GetAttributeValues("member")); n != 8 {
				t.Fatalf("%s: %s has %d members, want 8", dc.Addr, e.DN, n)
			}
		}
	}
	endState(p.DC2)
	before := dir.Counters().Writes()
	if _, err := eng.Run(ctx, engine.RunOptions{Full: true}); err != nil {
		t.Fatal(err)
	}
	if w := dir.Counters().Writes() - before; w != 0 {
		t.Fatalf("a full cycle on DC2 wrote %d times: not in step", w)
	}
	if err := p.DC1.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Replicate(ctx, p.DC1, p.DC2); err != nil {
		t.Fatal(err)
	}
	endState(p.DC1)
}
