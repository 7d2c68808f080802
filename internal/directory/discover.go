package directory

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// LookupSRV finds SRV records (net.Resolver.LookupSRV, which orders them
// by priority and, within one priority, at random by weight, as RFC 2782
// asks). Tests give their own.
type LookupSRV func(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)

// Candidates are the domain controllers to try, in order: directory.url,
// or directory.urls as given, or those DNS names for directory.domain
// (the site's first, then the domain's).
func (c *Config) Candidates(ctx context.Context) ([]string, error) {
	switch {
	case c.URL != "":
		return []string{c.URL}, nil
	case len(c.URLs) > 0:
		return c.URLs, nil
	case c.Domain == "":
		return nil, errors.New("directory: no domain controller configured (url, urls or domain)")
	}
	lookup := c.LookupSRV
	if lookup == nil {
		lookup = net.DefaultResolver.LookupSRV
	}
	var names []string
	if c.Site != "" {
		names = append(names, "_ldap._tcp."+c.Site+"._sites.dc._msdcs."+c.Domain)
	}
	names = append(names, "_ldap._tcp.dc._msdcs."+c.Domain)
	var out []string
	seen := map[string]bool{}
	var errs []error
	for _, name := range names {
		_, srvs, err := lookup(ctx, "", "", name)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		for _, s := range srvs {
			host := strings.TrimSuffix(s.Target, ".")
			if host == "" || seen[strings.ToLower(host)] {
				continue
			}
			seen[strings.ToLower(host)] = true
			out = append(out, c.urlFor(host, s.Port))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("directory: no domain controller found in DNS for %s: %w", c.Domain, errors.Join(errs...))
	}
	return out, nil
}

// urlFor is the URL of a DC found in DNS: LDAPS on 636, or with
// start_tls the LDAP port the record gives (389).
func (c *Config) urlFor(host string, port uint16) string {
	hp := func(p string) string { return net.JoinHostPort(host, p) }
	if c.StartTLS {
		if port == 0 {
			port = 389
		}
		return "ldap://" + hp(strconv.Itoa(int(port)))
	}
	return "ldaps://" + hp("636")
}
