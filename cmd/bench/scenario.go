//go:build linux

package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/graphsim"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/secret"
	"github.com/groupwriteback/groupwriteback/internal/testdc"
)

// scenario is a generated tenant: Groups security groups of Members
// members each, drawn from Users synced users. PlanOnly measures the
// first plan alone (`plan --out`), no writeback.
type scenario struct {
	Groups, Members, Users int
	PlanOnly               bool
}

// The scenarios of issue 13. Users above the test DCs' fixture users need
// a template of their own (provisioned once, cached like the others).
var scenarios = map[string]scenario{
	"ci":        {Groups: 200, Members: 20, Users: testdc.FixtureUserCount},
	"quick":     {Groups: 1000, Members: 100, Users: testdc.FixtureUserCount},
	"10k":       {Groups: 10000, Members: 50, Users: testdc.FixtureUserCount},
	"100k":      {Groups: 100000, Members: 20, Users: testdc.FixtureUserCount},
	"plan40k":   {Groups: 40000, Members: 20, Users: testdc.FixtureUserCount, PlanOnly: true},
	"plan100k":  {Groups: 100000, Members: 20, Users: testdc.FixtureUserCount, PlanOnly: true},
	"group250k": {Groups: 1, Members: 250000, Users: 250001},
	"group1m":   {Groups: 1, Members: 1000000, Users: 1000001},
}

// maxSambaUsers is the most fixture users a DC template is made with: the
// million-member scenario's.
const maxSambaUsers = 1000001

const (
	tenantID = "7a1c3f9e-2b4d-4e8a-9c61-0d5e8f2a1b3c"
	appID    = "5b0f8a8e-3b55-4c5e-9f5c-1f6f0f2d7e10"
	appPass  = "bench-groupwriteback-secret"
)

// result holds one run's figures.
type result struct {
	Scenario scenario
	// The first plan (`plan --out`, before anything is written): its time,
	// its peak RSS, and the saved plan's size.
	Plan      time.Duration
	PlanRSS   int64
	PlanBytes int64
	// First writeback: the tool's sync and the raw import of the same groups
	// (none with FirstOnly, which stops after the sync).
	FirstSync, RawImport time.Duration
	FirstOnly            bool
	FirstWrites          int
	FirstRSS             int64 // bytes, the sync process's peak
	// CPU during the first writeback: the tool's own, its DC's, and the
	// other DC's during the raw import.
	FirstToolCPU, FirstDCCPU, RawDCCPU time.Duration
	// The no-change delta cycle.
	NoChange         time.Duration
	NoChangeRequests int
	NoChangeWrites   int
	// One member added to one group.
	OneMember       time.Duration
	OneMemberWrites int
	// The DC's CPU during the no-change cycle and the one member added,
	// and the tool's during the one member added.
	NoChangeDCCPU, OneMemberDCCPU, OneMemberToolCPU time.Duration
	// MemLimit is the GOMEMLIMIT the tool ran with ("": none);
	// MemberBatch its member_batch_size.
	MemLimit    string
	MemberBatch int
	// DCCPU is the share of a CPU each DC was limited to (0: none).
	DCCPU float64
	// StateBytes is the state file's size after the first sync.
	StateBytes  int64
	Memberships int
}

func userID(i int) string  { return fmt.Sprintf("3f2b1c4d-%04x-4a5b-8c6d-%012x", i/65536, i) }
func groupID(i int) string { return fmt.Sprintf("6a1e0c55-%04x-4f0e-9d3b-%012x", i/65536, i) }

// options are how a run is measured.
type options struct {
	// profile: write each measured sync's profiles under this directory.
	profile string
	// memLimit is GOMEMLIMIT for the tool's processes ("": none): the
	// operator's lever on memory, measured beside the default.
	memLimit string
	// memberBatch is writeback.member_batch_size (0: the default).
	memberBatch int
	// dcCPU, when set, limits each DC to that share of one CPU: a slower
	// DC, CPU-bound as Samba was on the slower machine of issue 26.
	dcCPU float64
	// firstOnly stops after the first writeback, with no raw import (one
	// DC): its memory, and its time with nothing to compare it with.
	firstOnly bool
}

// run measures sc: two identical DCs, the tenant in graphsim, the tool on
// the first DC, ldapmodify on the second.
func run(ctx context.Context, bin string, sc scenario, o options, log io.Writer) (*result, error) {
	say := func(format string, args ...any) { fmt.Fprintf(log, "bench: "+format+"\n", args...) }
	if sc.Users > maxSambaUsers {
		return nil, fmt.Errorf("%d users: more than the %d a DC template is made with (its users are added offline, about 1.6 ms each)", sc.Users, maxSambaUsers)
	}
	work, err := os.MkdirTemp("", "groupwriteback-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	opts := testdc.Options{Users: sc.Users}
	dcs := []*testdc.DC{}
	n := 2 // the tool's, and the raw import's
	if sc.PlanOnly || o.firstOnly {
		n = 1
	}
	for range n {
		dc, err := testdc.Start(ctx, opts)
		if err != nil {
			return nil, err
		}
		defer dc.Close()
		dcs = append(dcs, dc)
	}
	if len(dcs) == 1 {
		say("started one DC (no raw import)")
	} else {
		say("started two identical DCs")
	}
	tool := dcs[0]
	ou := "OU=Bench," + testdc.DelegatedOU
	for _, dc := range dcs {
		if err := addOU(dc, ou); err != nil {
			return nil, err
		}
		if o.dcCPU > 0 {
			if err := dc.LimitCPU(o.dcCPU); err != nil {
				return nil, err
			}
		}
	}
	if o.dcCPU > 0 {
		say("both DCs limited to %.2f of a CPU", o.dcCPU)
	}
	fx, err := tool.FixtureUsers()
	if err != nil {
		return nil, err
	}
	say("generating the tenant: %d groups of %d members, %d users", sc.Groups, sc.Members, sc.Users)
	tf, err := tenant(sc, fx)
	if err != nil {
		return nil, err
	}
	sim, err := graphsim.Start(graphsim.Options{Tenant: tf, CertDir: work})
	if err != nil {
		return nil, err
	}
	defer sim.Close()
	b := &bench{ctx: ctx, bin: bin, o: o, log: log, cfg: filepath.Join(work, "config.yaml"), state: filepath.Join(work, "state.db"), peakFile: filepath.Join(work, "peak-rss")}
	if err := os.WriteFile(b.cfg, []byte(sim.CloudConfig(tenantID, appID, appPass)+tool.DirectoryConfig()+fmt.Sprintf(`writeback:
  target_ou: %s
  scope:
    kinds: [security]
%sstate:
  path: %s
audit:
  file: %s
`, ou, batchLine(o.memberBatch), b.state, filepath.Join(work, "audit.jsonl"))), 0o600); err != nil {
		return nil, err
	}
	res := &result{Scenario: sc, Memberships: sc.Groups * sc.Members, MemLimit: o.memLimit, MemberBatch: cmp.Or(o.memberBatch, 1000), DCCPU: o.dcCPU}
	if _, err := b.gwb("enable"); err != nil {
		return nil, fmt.Errorf("enable: %w", err)
	}
	say("the first plan")
	planFile := filepath.Join(work, "plan.json")
	planned, err := b.gwb(b.profiled("plan", "plan", "--out", planFile)...)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	res.Plan, res.PlanRSS = planned.took, planned.rss
	if st, err := os.Stat(planFile); err == nil {
		res.PlanBytes = st.Size()
	}
	if sc.PlanOnly {
		return res, nil
	}
	say("the first writeback")
	first, err := b.sync(tool, "first")
	if err != nil {
		return nil, fmt.Errorf("first sync: %w", err)
	}
	if first.Counts.Created != sc.Groups {
		return nil, fmt.Errorf("first sync created %d groups of %d", first.Counts.Created, sc.Groups)
	}
	res.FirstSync, res.FirstRSS, res.FirstWrites, res.FirstDCCPU, res.FirstToolCPU = first.took, first.rss, first.Writes, first.dcCPU, first.toolCPU
	if st, err := os.Stat(b.state); err == nil {
		res.StateBytes = st.Size()
	}
	if o.firstOnly {
		res.FirstOnly = true
		return res, nil
	}
	raw := dcs[1]
	say("the raw import of the same groups")
	ldif := filepath.Join(work, "groups.ldif")
	if err := dumpLDIF(ctx, tool, ou, ldif); err != nil {
		return nil, err
	}
	if res.RawDCCPU, err = dcCPU(raw, func() (err error) {
		res.RawImport, err = ldapmodify(ctx, raw, ldif)
		return err
	}); err != nil {
		return nil, err
	}
	say("the no-change delta cycle")
	before := sim.Server.Stats().Requests
	nochange, err := b.sync(tool, "no-change")
	if err != nil {
		return nil, err
	}
	res.NoChange, res.NoChangeWrites, res.NoChangeDCCPU = nochange.took, nochange.Writes, nochange.dcCPU
	res.NoChangeRequests = sim.Server.Stats().Requests - before
	say("one member change")
	if err := sim.Server.Tenant().AddMember(groupID(0), userID(sc.Members)); err != nil {
		return nil, err
	}
	one, err := b.sync(tool, "one-member")
	if err != nil {
		return nil, err
	}
	res.OneMember, res.OneMemberWrites, res.OneMemberDCCPU, res.OneMemberToolCPU = one.took, one.Writes, one.dcCPU, one.toolCPU
	return res, nil
}

// batchLine is the configuration's member_batch_size line ("": the
// default).
func batchLine(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("  member_batch_size: %d\n", n)
}

// bench runs the tool under measure.
type bench struct {
	ctx                  context.Context
	bin                  string
	o                    options
	log                  io.Writer
	cfg, state, peakFile string
}

// ran is one run of the tool: what `sync -o json` said, how long it
// took, its peak RSS, its CPU, and its DC's CPU meanwhile.
type ran struct {
	sync
	took, toolCPU, dcCPU time.Duration
	rss                  int64
}

// sync runs one measured sync on dc; with a profile directory it writes
// its profiles into name/ there.
func (b *bench) sync(dc *testdc.DC, name string) (ran, error) {
	args := b.profiled(name, "sync", "-o", "json")
	var r ran
	var err error
	r.dcCPU, err = dcCPU(dc, func() (err error) {
		r, err = b.gwb(args...)
		return err
	})
	return r, err
}

// profiled adds, with a profile directory, the flag that writes the
// command's profiles into name/ there.
func (b *bench) profiled(name string, args ...string) []string {
	if b.o.profile != "" {
		args = append(args, "--profile", filepath.Join(b.o.profile, name))
	}
	return args
}

// gwb runs the tool with args.
func (b *bench) gwb(args ...string) (ran, error) {
	// The tool reports its own peak RSS: the rusage of a child started
	// from this process counts this process's RSS too (Linux keeps the
	// high-water mark of the memory an exec replaces, and Go starts
	// children sharing the parent's memory until they exec).
	os.Remove(b.peakFile)
	cmd := exec.CommandContext(b.ctx, b.bin, append([]string{"--config", b.cfg, "--log-level", "error", "--peak-rss", b.peakFile}, args...)...)
	if b.o.memLimit != "" {
		cmd.Env = append(os.Environ(), "GOMEMLIMIT="+b.o.memLimit)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, b.log
	start := time.Now()
	err := cmd.Run()
	r := ran{took: time.Since(start)}
	if cmd.ProcessState != nil {
		r.toolCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if raw, rerr := os.ReadFile(b.peakFile); rerr == nil {
		r.rss, _ = strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	}
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 2 {
		err = nil // some groups not in step: the counts say which
	}
	if err != nil {
		return r, fmt.Errorf("%w: %s", err, tailOf(out.Bytes()))
	}
	if len(args) > 0 && args[0] == "sync" {
		err = json.Unmarshal(out.Bytes(), &r.sync)
	}
	return r, err
}

// dcCPU runs phase and returns the CPU dc used meanwhile.
func dcCPU(dc *testdc.DC, phase func() error) (time.Duration, error) {
	before, err := dc.CPU()
	if err != nil {
		return 0, err
	}
	if err := phase(); err != nil {
		return 0, err
	}
	after, err := dc.CPU()
	return after - before, err
}

// sync is what the figures need of `sync -o json`.
type sync struct {
	Counts struct {
		Created int `json:"created"`
	} `json:"counts"`
	Writes int `json:"ldapWrites"`
}

// tenant is the generated tenant: user i is fixture user i, carrying the
// on-premises identifiers Entra Connect syncs (objectSid, the immutable id
// from objectGUID, the DN); group g holds Members users from g on.
func tenant(sc scenario, fx []testdc.User) (*graphsim.TenantFile, error) {
	tf := &graphsim.TenantFile{TenantID: tenantID, Applications: []graphsim.Application{{AppID: appID,
		PasswordCredentials: []graphsim.PasswordCredential{{SecretText: appPass}}}}}
	for i := range sc.Users {
		guid, err := directory.GUIDBytes(fx[i].GUID)
		if err != nil {
			return nil, fmt.Errorf("fixture user %s: %w", fx[i].Name, err)
		}
		tf.Users = append(tf.Users, map[string]any{"id": userID(i), "displayName": fx[i].Name, "userPrincipalName": fx[i].Name + "@contoso.test",
			"onPremisesSyncEnabled": true, "onPremisesSecurityIdentifier": fx[i].SID,
			"onPremisesImmutableId": base64.StdEncoding.EncodeToString(guid), "onPremisesDistinguishedName": fx[i].DN})
	}
	for g := range sc.Groups {
		members := make([]any, sc.Members)
		for k := range sc.Members {
			members[k] = userID((g + k) % sc.Users)
		}
		tf.Groups = append(tf.Groups, map[string]any{"id": groupID(g), "displayName": fmt.Sprintf("Bench group %d", g), "mailNickname": fmt.Sprintf("bench%d", g),
			"mailEnabled": false, "securityEnabled": true, "writebackConfiguration": map[string]any{"isEnabled": true}, "members": members})
	}
	return tf, nil
}

func addOU(dc *testdc.DC, dn string) error {
	conn, err := dc.Admin()
	if err != nil {
		return err
	}
	defer conn.Close()
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"organizationalUnit"})
	return conn.Add(req)
}

// dumpLDIF writes the groups the tool wrote under ou, with every attribute
// it wrote and all their members, as one LDIF stream of adds.
func dumpLDIF(ctx context.Context, dc *testdc.DC, ou, path string) error {
	cfg := directory.Config{URL: dc.URL, BindDN: testdc.AdminDN, Password: secret.New(testdc.AdminPassword), CAFile: dc.CAFile, BaseDN: testdc.BaseDN}
	c, err := cfg.Open(ctx, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	groups, err := c.OwnedGroups(ctx, ou, policy.ManagedAttributes(policy.Options{}))
	if err != nil {
		return err
	}
	var b strings.Builder
	line := func(k, v string) {
		if v == "" || !utf8.ValidString(v) || strings.ContainsAny(v, "\n\r\x00") || strings.HasPrefix(v, " ") || strings.HasPrefix(v, ":") || strings.HasPrefix(v, "<") {
			fmt.Fprintf(&b, "%s:: %s\n", k, base64.StdEncoding.EncodeToString([]byte(v)))
			return
		}
		fmt.Fprintf(&b, "%s: %s\n", k, v)
	}
	for _, g := range groups {
		line("dn", g.DN)
		b.WriteString("changetype: add\nobjectClass: group\n")
		for k, vs := range g.Attrs {
			for _, v := range vs {
				line(k, v)
			}
		}
		for _, m := range g.Members {
			line("member", m)
		}
		b.WriteString("\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// ldapmodify imports path into dc as one stream, bound as the delegated
// account (the rights the tool has), and says how long it took.
func ldapmodify(ctx context.Context, dc *testdc.DC, path string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, "ldapmodify", "-H", dc.URL, "-x", "-D", testdc.DelegatedDN, "-w", testdc.DelegatedPassword, "-f", path)
	cmd.Env = append(os.Environ(), "LDAPTLS_CACERT="+dc.CAFile)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("ldapmodify: %v: %s", err, tailOf(out))
	}
	return took, nil
}

func tailOf(b []byte) string {
	if len(b) > 1000 {
		b = b[len(b)-1000:]
	}
	return string(b)
}

// print writes the figures, each beside its baseline or target.
func (r *result) print(w io.Writer) {
	ratio := func(a, b time.Duration) string { return fmt.Sprintf("%.2f×", a.Seconds()/b.Seconds()) }
	sc := r.Scenario
	fmt.Fprintf(w, "scenario: %d groups × %d members (%d memberships), %d users\n", sc.Groups, sc.Members, r.Memberships, sc.Users)
	if r.DCCPU > 0 {
		fmt.Fprintf(w, "each DC limited to %.2f of a CPU (a slower DC)\n", r.DCCPU)
	}
	fmt.Fprintf(w, "%-36s %12s %14s %8s %s\n", "figure", "tool", "baseline", "ratio", "target")
	fmt.Fprintf(w, "%-36s %12s\n", "first plan (plan --out)", r.Plan.Round(time.Millisecond))
	fmt.Fprintf(w, "%-36s %12s %14s %8s %s\n", "  peak RSS of the plan", mib(r.PlanRSS), cmp.Or(r.MemLimit, "no GOMEMLIMIT"), "", "≤ 200 MB at 40,000 groups")
	fmt.Fprintf(w, "%-36s %12s\n", "  the saved plan", mib(r.PlanBytes))
	if sc.PlanOnly {
		return
	}
	if r.FirstOnly {
		fmt.Fprintf(w, "%-36s %12s %14s\n", "first writeback", r.FirstSync.Round(time.Millisecond), "(no raw import)")
		fmt.Fprintf(w, "%-36s %12s\n", "  the DC's CPU", r.FirstDCCPU.Round(time.Millisecond))
	} else {
		fmt.Fprintf(w, "%-36s %12s %14s %8s %s\n", "first writeback (sync vs ldapmodify)", r.FirstSync.Round(time.Millisecond), r.RawImport.Round(time.Millisecond), ratio(r.FirstSync, r.RawImport), "≤ 1.00×")
		fmt.Fprintf(w, "%-36s %12s %14s %8s %s\n", "  the DC's CPU (sync vs ldapmodify)", r.FirstDCCPU.Round(time.Millisecond), r.RawDCCPU.Round(time.Millisecond), ratio(r.FirstDCCPU, r.RawDCCPU), "≤ 1.02×")
	}
	fmt.Fprintf(w, "%-36s %12s %14s %8s\n", "  the tool's own CPU", r.FirstToolCPU.Round(time.Millisecond), "", "")
	fmt.Fprintf(w, "%-36s %12d\n", "  member_batch_size", r.MemberBatch)
	fmt.Fprintf(w, "%-36s %12d %14d %8s\n", "  LDAP writes (vs LDIF records)", r.FirstWrites, sc.Groups, fmt.Sprintf("%.2f×", float64(r.FirstWrites)/float64(sc.Groups)))
	fmt.Fprintf(w, "%-36s %12s %14s %8s %s\n", "  peak RSS of the sync", mib(r.FirstRSS), cmp.Or(r.MemLimit, "no GOMEMLIMIT"), "", "≤ 300 MB at 100,000 groups")
	fmt.Fprintf(w, "%-36s %12s %14s\n", "  state file per membership", fmt.Sprintf("%.0f B", float64(r.StateBytes)/float64(max(1, r.Memberships))), mib(r.StateBytes)+" total")
	if r.FirstOnly {
		return
	}
	fmt.Fprintf(w, "%-36s %12s %14s %8s %s\n", "no-change delta cycle", r.NoChange.Round(time.Millisecond), "", "", "< 1 s")
	fmt.Fprintf(w, "%-36s %12d %14s %8s %s\n", "  Graph requests", r.NoChangeRequests, "", "", "≤ 3")
	fmt.Fprintf(w, "%-36s %12d %14s %8s %s\n", "  LDAP writes", r.NoChangeWrites, "", "", "0")
	fmt.Fprintf(w, "%-36s %12s\n", "  the DC's CPU", r.NoChangeDCCPU.Round(time.Millisecond))
	fmt.Fprintf(w, "%-36s %12s %14s %8s %s\n", "one member added", r.OneMember.Round(time.Millisecond), "", "", "< 1 s")
	fmt.Fprintf(w, "%-36s %12d %14s %8s %s\n", "  LDAP writes", r.OneMemberWrites, "", "", "1")
	fmt.Fprintf(w, "%-36s %12s\n", "  the DC's CPU", r.OneMemberDCCPU.Round(time.Millisecond))
	fmt.Fprintf(w, "%-36s %12s\n", "  the tool's own CPU", r.OneMemberToolCPU.Round(time.Millisecond))
}

func mib(n int64) string { return fmt.Sprintf("%.0f MB", float64(n)/(1<<20)) }
