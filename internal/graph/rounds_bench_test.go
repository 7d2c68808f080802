package graph

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/graphsim"
	"github.com/groupwriteback/groupwriteback/internal/secret"
)

// BenchmarkFullRead reads a tenant of 2,000 groups of 20 members and
// 5,000 users (20 + 50 pages of 100) with 20 ms between request and
// answer, as the groups round then the users round (sequential, the
// baseline) and as both at once (what the engine does); it reports pages
// a second.
//
//	go test ./internal/graph -run '^$' -bench FullRead -benchtime 3x
func BenchmarkFullRead(b *testing.B) {
	tf := &graphsim.TenantFile{TenantID: testTenantID, Applications: []graphsim.Application{{AppID: readerApp,
		PasswordCredentials: []graphsim.PasswordCredential{{SecretText: readerSecret}}}}}
	for i := range 5000 {
		tf.Users = append(tf.Users, map[string]any{"id": fmt.Sprintf("a0000000-0000-4000-8000-%012d", i), "displayName": fmt.Sprint("u", i),
			"userPrincipalName": fmt.Sprintf("u%d@contoso.com", i)})
	}
	for g := range 2000 {
		var members []any
		for k := range 20 {
			members = append(members, fmt.Sprintf("a0000000-0000-4000-8000-%012d", (g+k)%5000))
		}
		tf.Groups = append(tf.Groups, map[string]any{"id": fmt.Sprintf("b0000000-0000-4000-8000-%012d", g), "displayName": fmt.Sprint("g", g),
			"mailEnabled": false, "mailNickname": fmt.Sprint("g", g), "securityEnabled": true, "members": members})
	}
	inst, err := graphsim.Start(graphsim.Options{Tenant: tf, CertDir: b.TempDir(), Faults: graphsim.Faults{Latency: 20 * time.Millisecond}})
	if err != nil {
		b.Fatal(err)
	}
	defer inst.Close()
	s := &sim{inst: inst}
	c := newSimClient(b, s, Config{TenantID: testTenantID, ClientID: readerApp, ClientSecret: secret.New(readerSecret)})
	ctx := context.Background()
	pages := func(b *testing.B, read func() (int, error)) {
		n := 0
		for b.Loop() {
			p, err := read()
			if err != nil {
				b.Fatal(err)
			}
			n += p
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "pages/s")
	}
	b.Run("sequential", func(b *testing.B) {
		pages(b, func() (int, error) {
			g, err := c.GroupsDelta(ctx, "")
			if err != nil {
				return 0, err
			}
			u, err := c.UsersDelta(ctx, "", nil)
			if err != nil {
				return 0, err
			}
			return g.Stats.Pages + u.Stats.Pages, nil
		})
	})
	b.Run("concurrent", func(b *testing.B) {
		pages(b, func() (int, error) {
			done := make(chan error, 1)
			var up int
			go func() {
				u, err := c.UsersDelta(ctx, "", nil)
				if err == nil {
					up = u.Stats.Pages
				}
				done <- err
			}()
			g, err := c.GroupsDelta(ctx, "")
			if uerr := <-done; err == nil {
				err = uerr
			}
			if err != nil {
				return 0, err
			}
			return g.Stats.Pages + up, nil
		})
	})
}
