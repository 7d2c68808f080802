//go:build linux

package testdc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/directory/directorytest"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestFlavours(t *testing.T) {
	cases := []struct {
		opts             Options
		exchange, anchor bool
	}{
		{Options{}, false, false},
		{Options{Exchange: true, Anchor: true}, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.opts.flavour(), func(t *testing.T) {
			dc := Shared(t, tc.opts)
			conn, err := dc.Admin()
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			for attr, want := range map[string]bool{"msExchRecipientTypeDetails": tc.exchange, "mailNickname": tc.exchange, "msDS-ExternalDirectoryObjectId": tc.anchor} {
				res, err := conn.Search(ldap.NewSearchRequest("CN=Schema,CN=Configuration,"+BaseDN, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
					"(lDAPDisplayName="+attr+")", []string{"cn"}, nil))
				if err != nil {
					t.Fatal(err)
				}
				if got := len(res.Entries) == 1; got != want {
					t.Errorf("schema has %s: %v, want %v", attr, got, want)
				}
			}
		})
	}
}

func TestDumpSeesChanges(t *testing.T) {
	dc := Shared(t, Options{})
	ou := dc.NewOU(t, "dump")
	before, err := dc.Dump()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := dc.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	mod := ldap.NewModifyRequest(ou, nil)
	mod.Replace("description", []string{"touched"})
	if err := conn.Modify(mod); err != nil {
		t.Fatal(err)
	}
	after, err := dc.Dump()
	if err != nil {
		t.Fatal(err)
	}
	diff := directorytest.Changed(before, after, func(string, directorytest.DumpEntry) bool { return false })
	if len(diff) == 0 || !strings.Contains(strings.Join(diff, "\n"), strings.ToLower(ou)+": description added") {
		t.Fatalf("diff = %v", diff)
	}
	if d := directorytest.Changed(before, before, func(string, directorytest.DumpEntry) bool { return false }); len(d) != 0 {
		t.Fatalf("a dump differs from itself: %v", d)
	}
}

// TestDelegatedAccount: the delegated account may create, change, move and
// delete groups in a test OU, and nothing outside OU=Delegated.
func TestDelegatedAccount(t *testing.T) {
	dc := Shared(t, Options{})
	ou, other := dc.NewOU(t, "delegated"), dc.NewOU(t, "other")
	conn, err := ldap.DialURL(dc.URL, ldap.DialWithTLSConfig(dc.TLSConfig()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Bind(DelegatedDN, DelegatedPassword); err != nil {
		t.Fatal(err)
	}
	add := func(dn string) error {
		req := ldap.NewAddRequest(dn, nil)
		req.Attribute("objectClass", []string{"top", "group"})
		req.Attribute("sAMAccountName", []string{strings.ReplaceAll(dn[3:12], " ", "")})
		return conn.Add(req)
	}
	g := "CN=Delegated probe," + ou
	if err := add(g); err != nil {
		t.Fatalf("create a group in a test OU: %v", err)
	}
	mod := ldap.NewModifyRequest(g, nil)
	mod.Replace("description", []string{"written by the delegated account"})
	mod.Add("member", []string{dc.Fixtures(t)[0].DN})
	if err := conn.Modify(mod); err != nil {
		t.Fatalf("modify it: %v", err)
	}
	if err := conn.ModifyDN(ldap.NewModifyDNRequest(g, "CN=Moved probe", true, other)); err != nil {
		t.Fatalf("move it to another test OU: %v", err)
	}
	if err := conn.Del(ldap.NewDelRequest("CN=Moved probe,"+other, nil)); err != nil {
		t.Fatalf("delete it: %v", err)
	}
	if err := add("CN=Outside probe,CN=Users," + BaseDN); !ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights) {
		t.Fatalf("create a group in CN=Users: %v, want insufficient access", err)
	}
	mod = ldap.NewModifyRequest("CN=Domain Admins,CN=Users,"+BaseDN, nil)
	mod.Replace("description", []string{"x"})
	if err := conn.Modify(mod); !ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights) {
		t.Fatalf("modify Domain Admins: %v, want insufficient access", err)
	}
}

// procCPU reads a /proc stat line whose command holds spaces and a ')'.
func TestProcCPU(t *testing.T) {
	line := "4242 (samba: task) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 3 4 20 0 1 0 100 1000 10"
	got, err := procCPU(line)
	if err != nil || got != 3250*time.Millisecond {
		t.Fatalf("procCPU = %v, %v; want 3.25s", got, err)
	}
	if _, err := procCPU("4242 (samba S 1"); err == nil {
		t.Fatal("a line without its ')' was read")
	}
}

// The cpu controller is found where the kernel mounts it: cgroup v2 when
// its controllers list cpu, else v1's cpu hierarchy.
func TestCPUController(t *testing.T) {
	v1 := "cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0\ncgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\n"
	v2 := "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n"
	for _, tc := range []struct {
		name, mounts, controllers, dir string
		v2                             bool
	}{
		{"v1 only", v1, "", "/sys/fs/cgroup/cpu", false},
		{"v2 without cpu, v1 with it", v2 + v1, "hugetlb", "/sys/fs/cgroup/cpu", false},
		{"v2 with cpu", v1 + v2, "cpuset cpu io memory", "/sys/fs/cgroup/unified", true},
		{"none", "proc /proc proc rw 0 0\n" + v2, "memory", "", false},
	} {
		dir, isV2 := cpuController(tc.mounts, func(string) string { return tc.controllers })
		if dir != tc.dir || isV2 != tc.v2 {
			t.Errorf("%s: %q, v2 %v; want %q, %v", tc.name, dir, isV2, tc.dir, tc.v2)
		}
	}
}

// A DC limited to a share of a CPU uses no more than that, however hard it
// is asked: searches from four connections for two seconds cost it at most
// a fifth of a CPU over the time measured (and a period's slack).
// Unlimited, the same load used 2.17 s of CPU in 2 s.
func TestLimitCPU(t *testing.T) {
	Need(t, Available)
	if err := CPULimitAvailable(); err != nil {
		t.Skip(err) // the kernel's, not the DC's: the bench's DC_CPU says the same
	}
	dc, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	if err := dc.LimitCPU(0.2); err != nil {
		t.Fatal(err)
	}
	if in, err := dc.InCgroup(); !in || err != nil || dc.CPUShare() != 0.2 {
		t.Fatalf("samba in its cgroup: %v, %v; share %v", in, err, dc.CPUShare())
	}
	before, err := dc.CPU()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	deadline := start.Add(2 * time.Second)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := dc.Admin()
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			for time.Now().Before(deadline) {
				if _, err := conn.Search(ldap.NewSearchRequest(testUsersDN, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
					"(objectClass=user)", []string{"cn"}, nil)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	after, err := dc.CPU()
	if err != nil {
		t.Fatal(err)
	}
	// The window is what the CPU was read over: the last searches may
	// end after the deadline. A period of the quota (0.1 s) is slack.
	if used, window := after-before, time.Since(start); used > window/5+150*time.Millisecond {
		t.Errorf("the DC used %v of CPU in %v under a limit of a fifth of a CPU", used, window)
	}
	cg := dc.cgroup
	dc.Close()
	if _, err := os.Stat(cg); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the cgroup %s outlives the DC: %v", cg, err)
	}
	if err := dc.LimitCPU(1.5); err == nil {
		t.Error("a share above one CPU was taken")
	}
}

// testUsersDN holds the domain's built-in users and groups: a one-level
// search of it is cheap, so that a test can ask many.
const testUsersDN = "CN=Users," + BaseDN

// TestLargeTemplateOnLMDB: a template with more users than TDB is given
// is provisioned on LMDB, its users added a chunk at a time, and a DC
// made from it serves every one of them.
func TestLargeTemplateOnLMDB(t *testing.T) {
	Need(t, Available)
	defer func(most, chunk int) { tdbMostUsers, lmdbChunk = most, chunk }(tdbMostUsers, lmdbChunk)
	tdbMostUsers, lmdbChunk = 1000, 300 // 1,001 users: four transactions
	opts := Options{Users: 1001}
	if f := opts.flavour(); !strings.HasSuffix(f, "-lmdb") {
		t.Fatalf("flavour %q: a template on LMDB must not be taken for one on TDB", f)
	}
	dc, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	locks, err := filepath.Glob(filepath.Join(dc.Dir, "private", "sam.ldb.d", "*.ldb-lock"))
	if err != nil || len(locks) == 0 {
		t.Errorf("the DC's partitions are not LMDB's (no lock file): %v, %v", locks, err)
	}
	users := dc.Fixtures(t)
	if len(users) != 1001 || users[1000].SID == "" {
		t.Fatalf("%d fixture users served, want 1,001 with their SIDs", len(users))
	}
}
