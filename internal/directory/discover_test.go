package directory_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/directory/directorytest"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/testdc"
)

// fakeDNS answers SRV queries from a table, as the code's resolver.
func fakeDNS(records map[string][]*net.SRV) directory.LookupSRV {
	return func(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
		if service != "" || proto != "" {
			return "", nil, errors.New("ask by the full name")
		}
		if r, ok := records[name]; ok {
			return name, r, nil
		}
		return "", nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
}

func TestCandidates(t *testing.T) {
	dns := fakeDNS(map[string][]*net.SRV{
		"_ldap._tcp.Paris._sites.dc._msdcs.contoso.com": {{Target: "dc3.contoso.com.", Port: 389}},
		"_ldap._tcp.dc._msdcs.contoso.com":              {{Target: "dc1.contoso.com.", Port: 389}, {Target: "DC3.contoso.com.", Port: 389}, {Target: "dc2.contoso.com.", Port: 389}},
	})
	for _, tc := range []struct {
		name string
		cfg  directory.Config
		want []string
	}{
		{"one url", directory.Config{URL: "ldaps://dc1:636"}, []string{"ldaps://dc1:636"}},
		{"urls in order", directory.Config{URLs: []string{"ldaps://b:636", "ldaps://a:636"}}, []string{"ldaps://b:636", "ldaps://a:636"}},
		{"domain", directory.Config{Domain: "contoso.com", LookupSRV: dns},
			[]string{"ldaps://dc1.contoso.com:636", "ldaps://DC3.contoso.com:636", "ldaps://dc2.contoso.com:636"}},
		{"the site's first, no DC twice", directory.Config{Domain: "contoso.com", Site: "Paris", LookupSRV: dns},
			[]string{"ldaps://dc3.contoso.com:636", "ldaps://dc1.contoso.com:636", "ldaps://dc2.contoso.com:636"}},
		{"StartTLS on the record's port", directory.Config{Domain: "contoso.com", StartTLS: true, LookupSRV: dns},
			[]string{"ldap://dc1.contoso.com:389", "ldap://DC3.contoso.com:389", "ldap://dc2.contoso.com:389"}},
		{"a site without records falls back to the domain's", directory.Config{Domain: "contoso.com", Site: "Oslo", LookupSRV: dns},
			[]string{"ldaps://dc1.contoso.com:636", "ldaps://DC3.contoso.com:636", "ldaps://dc2.contoso.com:636"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.cfg.Candidates(context.Background())
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("candidates %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	_, err := (&directory.Config{Domain: "fabrikam.com", LookupSRV: dns}).Candidates(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no domain controller found in DNS for fabrikam.com") {
		t.Fatalf("a domain without records: %v", err)
	}
}

func TestOneOfURLURLsDomain(t *testing.T) {
	base := directory.Config{BindDN: "CN=x,DC=c,DC=d", BaseDN: "DC=c,DC=d"}
	for _, tc := range []struct {
		edit func(*directory.Config)
		says string
	}{
		{func(c *directory.Config) {}, "url: required"},
		{func(c *directory.Config) { c.URL, c.Domain = "ldaps://a:636", "contoso.com" }, "url: give one of url, urls and domain"},
		{func(c *directory.Config) { c.URLs = []string{"ldaps://a:636", "ldap://b:389"} }, "urls[1]: ldap:// without start_tls"},
		{func(c *directory.Config) { c.Domain = "contoso" }, `domain: "contoso" is not a DNS domain name`},
		{func(c *directory.Config) { c.URL, c.Site = "ldaps://a:636", "Paris" }, "site: applies to domain only"},
	} {
		c := base
		tc.edit(&c)
		if err := c.Validate("directory."); err == nil || !strings.Contains(err.Error(), "directory."+tc.says) {
			t.Errorf("%+v: %v, want %q", c, err, tc.says)
		}
	}
}

// proxy forwards a port of the DC's address to the DC, until killed: a
// second "domain controller" the test can take away in the middle of work.
type proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	// wire is every byte that went through, both ways.
	wire bytes.Buffer
}

// Write records bytes that go through.
func (p *proxy) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.wire.Write(b)
}

// seen reports whether s went through the proxy in clear.
func (p *proxy) seen(s string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Contains(p.wire.Bytes(), []byte(s))
}

func newProxy(t *testing.T, target string) *proxy {
	host, _, _ := net.SplitHostPort(target)
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, io.TeeReader(c, p)); up.Close() }()
			go func() { _, _ = io.Copy(c, io.TeeReader(up, p)); c.Close() }()
		}
	}()
	t.Cleanup(p.kill)
	return p
}

func (p *proxy) kill() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// Several DCs: the client connects to the first that answers, stays with
// it, and when it is lost in the middle of work moves to the next one; the
// work is done once, on the other DC.
func TestFailoverToTheNextDC(t *testing.T) {
	dc := testdc.Shared(t, testdc.Options{})
	u, _ := url.Parse(dc.URL)
	p := newProxy(t, net.JoinHostPort(u.Hostname(), "636"))
	first := "ldaps://" + p.ln.Addr().String()
	cfg := config(dc)
	cfg.URL, cfg.URLs = "", []string{"ldaps://" + u.Hostname() + ":1", first, dc.URL} // the first never answers
	c, err := cfg.Open(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.URL() != first {
		t.Fatalf("connected to %s, want %s (the first that answers)", c.URL(), first)
	}
	var moves []string
	c.OnFailover(func(from, to string) { moves = append(moves, from+" -> "+to) })
	ou := dc.NewOU(t, "failover")
	var ops []reconcile.Op
	for i := range 6 {
		ops = append(ops, directorytest.CreateOp("Failover "+string(rune('A'+i))+"_2c1a0b9f8e7d", ou, "6a1e0c55-0a0"+string(rune('0'+i))+"-4f0e-9d3b-2c1a0b9f8e7d"))
	}
	directorytest.MustApply(t, directorytest.GateOver(c, nil, ou), ops[:3]...)
	p.kill() // the DC in use goes away
	directorytest.MustApply(t, directorytest.GateOver(c, nil, ou), ops[3:]...)
	if c.URL() != dc.URL || c.Counters().Failovers != 1 || len(moves) != 1 || moves[0] != first+" -> "+dc.URL {
		t.Fatalf("after the loss: at %s, %d failovers, moves %v", c.URL(), c.Counters().Failovers, moves)
	}
	if got := directorytest.Owned(t, c, ou); len(got) != 6 {
		t.Fatalf("%d groups written, want 6", len(got))
	}
}

// Domain controllers found in DNS (a resolver the test gives): the first
// record's DC does not answer, the second's does.
func TestDiscoveredByDNS(t *testing.T) {
	dc := testdc.Shared(t, testdc.Options{})
	u, _ := url.Parse(dc.URL)
	cfg := config(dc)
	cfg.URL, cfg.Domain = "", "contoso.test"
	cfg.LookupSRV = fakeDNS(map[string][]*net.SRV{"_ldap._tcp.dc._msdcs.contoso.test": {
		{Target: "127.0.0.254.", Port: 389, Priority: 0}, {Target: u.Hostname() + ".", Port: 389, Priority: 10}}})
	c, err := cfg.Open(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.URL() != "ldaps://"+u.Hostname()+":636" {
		t.Fatalf("connected to %s", c.URL())
	}
}
