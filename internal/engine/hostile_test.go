package engine_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/directory/directorytest"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/policy"
)

// hostileCase is one entry of testdata/hostile.json.
type hostileCase struct {
	Field  string `json:"field"`
	Value  string `json:"value"`
	Expect string `json:"expect"` // written, cleaned, refused, reported
	Want   string `json:"want"`
	Why    string `json:"why"`
}

// TestHostileCorpus drives every hostile input of testdata/hostile.json
// through Graph (the tenant) into a real DC, in one cycle, and checks each
// is written as given, cleaned and reported, or refused and reported; and
// that nothing outside the groups the tool owns changed.
func TestHostileCorpus(t *testing.T) {
	var corpus struct {
		Cases []hostileCase `json:"cases"`
	}
	b, err := os.ReadFile("testdata/hostile.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &corpus); err != nil {
		t.Fatal(err)
	}
	if len(corpus.Cases) < 100 {
		t.Fatalf("the corpus has %d cases; it must keep at least 100", len(corpus.Cases))
	}
	opts := directorytest.Options{Exchange: true, Anchor: true}
	ad := openDir(t, opts)
	fx := ad.Users(t, 1)
	tf := baseTenant(t, ad, 1)
	krbtgt := findOne(t, ad, ad.BaseDN, "sAMAccountName", "krbtgt")
	krbtgtDN, krbtgtSID := krbtgt.DN, krbtgt.SID
	dcDN := findOne(t, ad, "OU=Domain Controllers,"+ad.BaseDN, "objectClass", "computer").DN
	guid64 := func(guid string) string {
		b, err := directory.GUIDBytes(guid)
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(b)
	}
	placeholders := strings.NewReplacer("{fixture0.dn}", fx[0].DN, "{fixture0.dnUpper}", strings.ToUpper(fx[0].DN), "{fixture0.sid}", fx[0].SID,
		"{fixture0.guid64}", guid64(fx[0].GUID), "{krbtgt.dn}", krbtgtDN, "{krbtgt.guid64}", guid64(krbtgt.GUID),
		"{domain.sid}", krbtgtSID[:strings.LastIndex(krbtgtSID, "-")], "{dc.dn}", dcDN)

	id := func(i int) string { return fmt.Sprintf("6a1e0c55-%04d-4f0e-9d3b-2c1a0e%06d", i, i) }
	member := func(i int) string { return fmt.Sprintf("3f2b1c4d-%04d-4a5b-8c6d-7e0000%06d", i, i) }
	for i, c := range corpus.Cases {
		c.Value = placeholders.Replace(c.Value)
		corpus.Cases[i] = c
		g := map[string]any{"id": id(i), "displayName": fmt.Sprintf("Hostile %d", i), "securityEnabled": true, "mailEnabled": false,
			"mailNickname": fmt.Sprintf("hostile%d", i), "writebackConfiguration": map[string]any{"isEnabled": true}, "members": []any{userID(0)}}
		mailGroup := func() {
			g["groupTypes"], g["mailEnabled"], g["securityEnabled"] = []any{"Unified"}, true, false
			g["mail"] = fmt.Sprintf("hostile%d@contoso.test", i)
			g["proxyAddresses"] = []any{"SMTP:" + g["mail"].(string)}
		}
		switch kind, _ := strings.CutPrefix(c.Field, "member:"); c.Field {
		case "displayName", "description":
			g[c.Field] = c.Value
		case "mailNickname", "mail":
			mailGroup()
			g[c.Field] = c.Value
			if c.Field == "mail" {
				g["proxyAddresses"] = []any{"SMTP:" + c.Value}
			}
		case "proxyAddress":
			mailGroup()
			g["proxyAddresses"] = []any{"SMTP:" + g["mail"].(string), "smtp:" + c.Value}
		default:
			keys := map[string]string{"dn": "onPremisesDistinguishedName", "sid": "onPremisesSecurityIdentifier", "immutableId": "onPremisesImmutableId"}
			if keys[kind] == "" {
				t.Fatalf("case %d: unknown field %q", i, c.Field)
			}
			tf.Users = append(tf.Users, map[string]any{"id": member(i), "displayName": fmt.Sprintf("member %d", i),
				"userPrincipalName": fmt.Sprintf("m%d@contoso.test", i), "onPremisesSyncEnabled": true, keys[kind]: c.Value})
			g["members"] = []any{member(i)}
		}
		tf.Groups = append(tf.Groups, g)
	}
	e := newEnvOn(t, ad, tf, nil)
	before := ad.Dump(t)
	res, _ := e.sync(engine.RunOptions{})
	notes := map[string][]string{}
	for _, n := range res.Notes {
		notes[n.CloudID] = append(notes[n.CloudID], n.Field)
	}
	problem := map[string]string{}
	for _, f := range res.Failures {
		problem[f.CloudID] = f.Message
	}
	counts := map[string]int{}
	for i, c := range corpus.Cases {
		counts[c.Expect]++
		name := fmt.Sprintf("%d %s %q", i, c.Field, c.Value)
		if len(name) > 80 {
			name = name[:80]
		}
		t.Run(name, func(t *testing.T) {
			gid := id(i)
			ad := e.group(gid)
			want := c.Value
			if c.Want != "" {
				want = c.Want
			}
			switch c.Field {
			case "displayName":
				switch c.Expect {
				case "written", "cleaned":
					if ad == nil {
						t.Fatalf("not written: %s", problem[gid])
					}
					dn, err := policy.ParseDN(ad.DN)
					if err != nil || dn.RDNs[0].Attributes[0].Value != policy.CommonName(policy.NamingDisplayName, gid, c.Value) {
						t.Fatalf("DN %q (%v)", ad.DN, err)
					}
					if sam := attr(ad, "sAMAccountName"); strings.ContainsAny(sam, `"/\[]:;|=,+*?<>@`) || len(utf16.Encode([]rune(sam))) > 64 {
						t.Fatalf("sAMAccountName %q breaks AD's rules", sam)
					}
					if c.Expect == "written" && attr(ad, "displayName") != want {
						t.Fatalf("displayName %q, want %q", attr(ad, "displayName"), want)
					}
					if c.Expect == "cleaned" && (!slices.Contains(notes[gid], "displayName") || strings.ContainsFunc(attr(ad, "displayName")+ad.DN, func(r rune) bool {
						return r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x202e || r == 0x2028 || r == 0xffff || r == 0x2066 || r == 0x200e
					})) {
						t.Fatalf("displayName %q, DN %q, notes %v", attr(ad, "displayName"), ad.DN, notes[gid])
					}
				case "refused":
					if ad != nil || !strings.Contains(problem[gid], "displayName") {
						t.Fatalf("written (%v), or not reported: %q", ad != nil, problem[gid])
					}
				}
			case "description":
				if ad == nil {
					t.Fatalf("not written: %s", problem[gid])
				}
				got := attr(ad, "description")
				if c.Expect == "written" && got != want {
					t.Fatalf("description %q, want %q", got, want)
				}
				if c.Expect == "cleaned" && (!slices.Contains(notes[gid], "description") || strings.ContainsAny(got, "\x00\x07\u202e\u2028\ufffe")) {
					t.Fatalf("description %q, notes %v", got, notes[gid])
				}
			case "mailNickname", "mail", "proxyAddress":
				if ad == nil {
					t.Fatalf("not written: %s", problem[gid])
				}
				proxies := strings.ToLower(attr(ad, "proxyAddresses"))
				switch {
				case c.Expect == "written" && c.Field == "proxyAddress":
					if !strings.Contains(proxies, "smtp:"+strings.ToLower(want)) {
						t.Fatalf("proxyAddresses %q lack %q", proxies, want)
					}
				case c.Expect == "written":
					if attr(ad, c.Field) != want {
						t.Fatalf("%s %q, want %q", c.Field, attr(ad, c.Field), want)
					}
				case c.Field == "proxyAddress":
					if strings.Contains(proxies, "smtp:"+strings.ToLower(c.Value)+"|") || strings.HasSuffix(proxies, "smtp:"+strings.ToLower(c.Value)) ||
						!slices.Contains(notes[gid], "proxyAddresses") || attr(ad, "mail") == "" {
						t.Fatalf("proxyAddresses %q, mail %q, notes %v", proxies, attr(ad, "mail"), notes[gid])
					}
				default:
					if attr(ad, "mail") != "" || attr(ad, "mailNickname") != "" || !slices.Contains(notes[gid], c.Field) || attr(ad, "displayName") == "" {
						t.Fatalf("mail %q nickname %q, notes %v", attr(ad, "mail"), attr(ad, "mailNickname"), notes[gid])
					}
				}
			default: // member:…
				if ad == nil {
					t.Fatalf("not written: %s", problem[gid])
				}
				ms := members(ad)
				var reasons []string
				for _, mp := range res.Plan.NotWritten[gid] {
					reasons = append(reasons, mp.Reason)
				}
				switch c.Expect {
				case "written":
					if len(ms) != 1 || !strings.EqualFold(ms[0], fx[0].DN) {
						t.Fatalf("members %v, want %s", ms, fx[0].DN)
					}
				case "reported":
					if len(ms) != 0 || len(reasons) != 1 {
						t.Fatalf("members %v, reasons %v (%s)", ms, reasons, c.Why)
					}
				}
			}
		})
	}
	if diff := directorytest.Changed(before, ad.Dump(t), e.notOwned()); len(diff) > 0 {
		t.Fatalf("objects the tool does not own changed:\n%s", strings.Join(diff, "\n"))
	}
	full, w := e.sync(engine.RunOptions{Full: true})
	if w != 0 {
		t.Fatalf("a full sync over the corpus made %d writes: it does not converge", w)
	}
	// Only the refused groups are not in step: every written one is found
	// again where it was written, whatever AD made of its DN.
	if len(full.Failures) != counts["refused"] || len(full.Plan.Problems) != 0 {
		t.Fatalf("after a full sync: %d not in step (want %d), problems %+v", len(full.Failures), counts["refused"], full.Plan.Problems)
	}
	t.Logf("hostile corpus: %d cases: %v", len(corpus.Cases), counts)
}
