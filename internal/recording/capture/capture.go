// Package capture makes the reads a recording holds, through a client
// whose transport is a recording.Recorder: `cloud record` and the
// recording's tests read a tenant the same way. It is apart from package
// recording, which graphsim's player needs without the client.
package capture

import (
	"context"
	"errors"
	"net/http"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/graph"
)

// Reads are what a recording is made of, as the client read them.
type Reads struct {
	Groups                  *cloud.GroupRound
	UsersRound              *cloud.UserRound
	DeltaGroups             *cloud.GroupRound
	DeltaUsers              *cloud.UserRound
	UnifiedWritebackDefault bool
}

// Read makes, through c (whose transport is a Recorder), every read a
// recording must answer for `enable` and `sync` to work against its
// replay: the reads doctor checks the app's permissions with, one full
// round of groups and users as a sync reads them, the tenant's writeback
// default, then (after between, when set) one delta round. A refusal of a
// probe (403) is recorded as Graph gave it, so that the replay's doctor
// says the same.
func Read(ctx context.Context, c *graph.Client, between func()) (*Reads, error) {
	for _, p := range graph.ReadProbes() {
		if err := c.Probe(ctx, p.Path, p.Query); err != nil && !refused(err) {
			return nil, err
		}
	}
	for _, p := range c.DeltaProbes() {
		if err := c.ProbeDelta(ctx, p); err != nil && !refused(err) {
			return nil, err
		}
	}
	r := &Reads{}
	var err error
	if r.Groups, err = c.GroupsDelta(ctx, ""); err != nil {
		return nil, err
	}
	if r.UsersRound, err = c.UsersDelta(ctx, "", nil); err != nil {
		return nil, err
	}
	if r.UnifiedWritebackDefault, _, err = c.UnifiedWritebackDefault(ctx); err != nil && !refused(err) {
		return nil, err
	}
	if between != nil {
		between()
	}
	if r.DeltaGroups, err = c.GroupsDelta(ctx, r.Groups.DeltaLink); err != nil {
		return nil, err
	}
	if r.DeltaUsers, err = c.UsersDelta(ctx, r.UsersRound.DeltaLink, nil); err != nil {
		return nil, err
	}
	return r, nil
}

// refused reports whether Graph refused a read for want of a permission.
func refused(err error) bool {
	var gerr *graph.Error
	return errors.As(err, &gerr) && gerr.StatusCode == http.StatusForbidden
}

// Snapshot is the tenant the reads make.
func (r *Reads) Snapshot() *cloud.Snapshot {
	snap := cloud.NewSnapshot()
	snap.ApplyGroups(r.Groups.Full, r.Groups.Changes)
	snap.ApplyUsers(r.UsersRound.Full, r.UsersRound.Changes)
	snap.UnifiedWritebackDefault = r.UnifiedWritebackDefault
	snap.ApplyGroups(r.DeltaGroups.Full, r.DeltaGroups.Changes)
	snap.ApplyUsers(r.DeltaUsers.Full, r.DeltaUsers.Changes)
	return snap
}
