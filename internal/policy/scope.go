package policy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
)

// scope decides whether g is written back and, if so, what it becomes
// (members aside).
func scope(g *cloud.Group, snap *cloud.Snapshot, o *Options) Decision {
	d := Decision{CloudID: g.ID, Name: g.DisplayName, Kind: KindOf(g)}
	if decided, done := classify(g, *o, d); done {
		return decided
	}
	d.InScope = true
	problem := func(field, format string, args ...any) Decision {
		d.Problem = &Problem{CloudID: g.ID, Name: g.DisplayName, Field: field, Message: fmt.Sprintf(format, args...)}
		return d
	}
	note := func(field, format string, args ...any) {
		d.Notes = append(d.Notes, Problem{CloudID: g.ID, Name: g.DisplayName, Field: field, Message: fmt.Sprintf(format, args...)})
	}
	typ, field, why := writtenType(g, d.Kind)
	if why != "" {
		return problem(field, "%s", why)
	}
	if cleanText(g.DisplayName) == "" {
		return problem("displayName", "is empty: the group cannot be named in AD")
	}
	writeMail, field, why := mailWritten(g, typ, *o, note)
	if why != "" {
		return problem(field, "%s", why)
	}
	if hasUnsafe(g.DisplayName, false) {
		note("displayName", "has control, bidirectional-override or non-character code points: replaced with spaces in cn, sAMAccountName and displayName")
	}
	if hasUnsafe(g.Description, true) {
		note("description", "has control, bidirectional-override or non-character code points: replaced with spaces")
	}
	cn := CommonName(o.Naming, g.ID, g.DisplayName)
	placement := Placement{TargetOU: o.TargetOU, Rules: o.Placement, Scope: o.GroupScope}
	ou, rule := placement.OUFor(g)
	scope := placement.scopeFor(rule)
	if scope != ScopeUniversal && typ != UniversalSecurity {
		note("group_scope", "%s groups are written universal, not %s: Exchange mail-enables universal groups only", typ, scope)
		scope = ScopeUniversal
	}
	anchor := Anchor(g.ID)
	dn := GroupDN(cn, ou)
	if rdn := dn[len("CN="):]; strings.HasPrefix(rdn, cn) {
		cn = rdn[:len(cn)] // the same text, kept once: in the DN
	}
	d.Desired = &DesiredGroup{CloudID: g.ID, Anchor: anchor, CN: cn, DN: dn, Type: typ, Scope: scope, Attrs: desiredAttrs(g, anchor, cn, typ, scope, writeMail, o, note),
		from: g, opts: o, mail: writeMail}
	if rule >= 0 {
		d.Desired.PlacedBy = fmt.Sprintf("writeback.placement[%d] (%s)", rule, o.Placement[rule])
	}
	return d
}

// classify decides the groups that are not written as a copy of their
// own: out of scope (and why), soft-deleted, writeback turned off, or
// written in place into their original AD group. done is false for a
// group to write back.
func classify(g *cloud.Group, o Options, d Decision) (decided Decision, done bool) {
	out := func(reason string) (Decision, bool) { d.Reason, d.Cause = reason, CauseOutOfScope; return d, true }
	wb := g.Writeback
	switch {
	case g.Removed == cloud.SoftDeleted:
		d.Reason, d.Cause = "soft-deleted in the cloud", CauseSoftDeleted
		return d, true
	case d.Kind == KindSyncedFromAD:
		return out("synced from on-premises AD (onPremisesSyncEnabled): it is already there")
	case d.Kind == KindFromADCloudManaged && g.CloudManaged != nil && !*g.CloudManaged:
		return out("no longer synced from AD (onPremisesSyncEnabled false) and not cloud-managed (onPremisesSyncBehavior.isCloudManaged false): " +
			"its AD group is left as it is, and no copy is written")
	case d.Kind == KindFromADCloudManaged && o.InPlace && g.CloudManaged != nil:
		if reason := o.Scope.excludes(g, d.Kind); reason != "" {
			return out(reason)
		}
		d.InScope = true
		attrs := map[string][]string{"displayName": {leftUTF16(cleanText(g.DisplayName), maxDisplayName)},
			"description": nonEmpty(strings.TrimSpace(leftUTF16(cleanDescription(g.Description), maxDescription)))}
		d.Desired = &DesiredGroup{CloudID: g.ID, Anchor: Anchor(g.ID), InPlaceSID: g.OnPremisesSecurityIdentifier, Attrs: attrs}
		return d, true
	case d.Kind == KindFromADCloudManaged:
		return out(fmt.Sprintf("its source of authority moved from AD to the cloud (onPremisesSyncEnabled false, on-premises SID %s): "+
			"its original AD group still exists, so no copy is written in the target OU (writeback.source_of_authority: in_place "+
			"writes its members into the original)", g.OnPremisesSecurityIdentifier))
	case d.Kind == KindDistribution || d.Kind == KindMailEnabledSecurity:
		return out("cloud distribution lists and mail-enabled security groups are not supported by group writeback")
	case wb.IsEnabled != nil && !*wb.IsEnabled:
		d.Reason, d.Cause = "writeback is turned off for it (writebackConfiguration.isEnabled = false)", CauseWritebackOff
		return d, true
	case d.Kind == KindSecurity && (wb.IsEnabled == nil || !*wb.IsEnabled):
		return out("security groups are written back only with writebackConfiguration.isEnabled = true")
	case d.Kind == KindMicrosoft365 && wb.IsEnabled == nil && o.SkipUnsetMicrosoft365:
		return out("writebackConfiguration.isEnabled is unset and cloud.unified_writeback_default is false")
	}
	if reason := o.Scope.excludes(g, d.Kind); reason != "" {
		return out(reason)
	}
	return d, false
}

// writtenType is the on-premises group type a group is written as, or the
// field and why it cannot be.
func writtenType(g *cloud.Group, kind Kind) (typ, field, why string) {
	// Graph stores onPremisesGroupType as a free string and returns it as
	// written: Terraform's azuread provider writes "UniversalSecurityGroup".
	typ = canonicalGroupType(g.Writeback.OnPremisesGroupType)
	if typ == "" {
		typ = UniversalDistribution
		if kind == KindSecurity {
			typ = UniversalSecurity
		}
	}
	switch {
	case typ != UniversalDistribution && typ != UniversalSecurity && typ != UniversalMailEnabledSecurity:
		return typ, "writebackConfiguration.onPremisesGroupType", fmt.Sprintf("%q is not a known on-premises group type", typ)
	case kind == KindSecurity && typ != UniversalSecurity:
		return typ, "writebackConfiguration.onPremisesGroupType", fmt.Sprintf("a security group can only be written back as %s, not %s", UniversalSecurity, typ)
	}
	return typ, "", ""
}

// mailWritten says whether a group of type typ is written with its mail
// attributes, or the field and why it cannot be written at all; a mail
// address AD would refuse is noted, and the group written without them.
func mailWritten(g *cloud.Group, typ string, o Options, note func(field, format string, args ...any)) (write bool, field, why string) {
	mailType := typ != UniversalSecurity
	write = mailType && o.Exchange
	if mailType && !o.Exchange && !o.WithoutExchange {
		return false, "writebackConfiguration.onPremisesGroupType", fmt.Sprintf("%s needs the Exchange schema in AD, which is absent (or allow writing without mail attributes)", typ)
	}
	if write && (g.Mail == "" || g.MailNickname == "") {
		return false, "mail", fmt.Sprintf("a mail-enabled group needs mail and mailNickname; the cloud group has %q and %q", g.Mail, g.MailNickname)
	}
	if write {
		if err := CheckSMTPAddress(g.Mail); err != nil {
			note("mail", "%v: the group is written without mail attributes", err)
			write = false
		} else if err := CheckMailNickname(g.MailNickname); err != nil {
			note("mailNickname", "%v: the group is written without mail attributes", err)
			write = false
		}
	}
	return write, "", ""
}

// desiredAttrs are the attributes a written-back group has in AD.
func desiredAttrs(g *cloud.Group, anchor, cn, typ, scope string, writeMail bool, o *Options, note func(field, format string, args ...any)) map[string][]string {
	gt := GroupTypeOf(scope, typ != UniversalDistribution)
	attrs := map[string][]string{
		"sAMAccountName":   {SAMAccountName(cn)},
		"groupType":        {strconv.FormatInt(gt, 10)},
		"displayName":      {leftUTF16(cleanText(g.DisplayName), maxDisplayName)},
		"description":      nonEmpty(strings.TrimSpace(leftUTF16(cleanDescription(g.Description), maxDescription))),
		"adminDescription": {anchor},
	}
	if o.AnchorAttribute {
		attrs["msDS-ExternalDirectoryObjectId"] = []string{anchor}
	}
	if o.Exchange {
		for _, a := range []string{"mail", "mailNickname", "proxyAddresses", "msExchRecipientDisplayType", "msExchRecipientTypeDetails", "msExchRequireAuthToSendTo"} {
			attrs[a] = nil
		}
	}
	if !writeMail {
		return attrs
	}
	display := displayTypeDistribution
	if typ == UniversalMailEnabledSecurity {
		display = displayTypeSecurityDistribution
	}
	attrs["mail"] = []string{g.Mail}
	attrs["mailNickname"] = []string{g.MailNickname}
	proxies, bad := proxyAddresses(g.Mail, g.ProxyAddresses)
	for _, b := range bad {
		note("proxyAddresses", "%s: left out", b)
	}
	attrs["proxyAddresses"] = proxies
	attrs["msExchRecipientDisplayType"] = []string{strconv.Itoa(display)}
	attrs["msExchRecipientTypeDetails"] = []string{strconv.FormatInt(typeDetailsRemoteGroupMailbox, 10)}
	attrs["msExchRequireAuthToSendTo"] = []string{"TRUE"}
	return attrs
}

// canonicalGroupType maps an onPremisesGroupType, in any case and with
// surrounding spaces, to the documented spelling; an unknown one is
// returned as given.
func canonicalGroupType(s string) string {
	t := strings.TrimSpace(s)
	for _, known := range []string{UniversalDistribution, UniversalSecurity, UniversalMailEnabledSecurity} {
		if strings.EqualFold(t, known) {
			return known
		}
	}
	return s
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
