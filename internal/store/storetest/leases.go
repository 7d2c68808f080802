package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// testLease: one holder at a time; renewal keeps the token; a lease that
// ran out goes to the next asker with a greater token, and its old holder
// can no longer renew it; a release hands it over at once.
func testLease(t *testing.T, s Store) {
	ctx := context.Background()
	const ttl = 400 * time.Millisecond
	a, err := s.AcquireLease(ctx, state.WriterLease, "a/1", ttl)
	if err != nil || a.Token < 1 || a.Holder != "a/1" || !a.Expires.After(a.Acquired) {
		t.Fatalf("first acquire: %+v, %v", a, err)
	}
	var held *state.LeaseHeldError
	if _, err := s.AcquireLease(ctx, state.WriterLease, "b/1", ttl); !errors.As(err, &held) || held.State.Holder != "a/1" {
		t.Fatalf("acquire of a held lease: %v, want a LeaseHeldError naming a/1", err)
	}
	again, err := s.AcquireLease(ctx, state.WriterLease, "a/1", ttl)
	if err != nil || again.Token != a.Token {
		t.Fatalf("acquire by its holder renews it with the same token: %+v, %v", again, err)
	}
	r, err := s.RenewLease(ctx, a, ttl)
	if err != nil || r.Token != a.Token || r.Expires.Before(a.Expires) {
		t.Fatalf("renew: %+v, %v", r, err)
	}
	if st, err := s.ReadLease(ctx, state.WriterLease); err != nil || !st.Held() || st.Holder != "a/1" {
		t.Fatalf("ReadLease: %+v, %v", st, err)
	}
	time.Sleep(ttl + 100*time.Millisecond)
	if st, _ := s.ReadLease(ctx, state.WriterLease); st.Held() {
		t.Fatalf("a lease past its expiry is held: %+v", st)
	}
	b, err := s.AcquireLease(ctx, state.WriterLease, "b/1", ttl)
	if err != nil || b.Token <= a.Token || b.Previous != "a/1" {
		t.Fatalf("take-over: %+v, %v; want a greater token than %d and a/1 as previous", b, err, a.Token)
	}
	if _, err := s.RenewLease(ctx, a, ttl); !errors.Is(err, state.ErrFenced) {
		t.Fatalf("the old holder renews a lease taken over: %v, want ErrFenced", err)
	}
	// Its holder's lease, run out and taken again, has a new token too.
	time.Sleep(ttl + 100*time.Millisecond)
	if _, err := s.RenewLease(ctx, b, ttl); !errors.Is(err, state.ErrFenced) {
		t.Fatalf("renewing a lease that ran out: %v, want ErrFenced", err)
	}
	b2, err := s.AcquireLease(ctx, state.WriterLease, "b/1", ttl)
	if err != nil || b2.Token <= b.Token || b2.Previous != "" {
		t.Fatalf("the same holder after expiry: %+v, %v; want a new token and no previous", b2, err)
	}
	if err := s.ReleaseLease(ctx, b2); err != nil {
		t.Fatal(err)
	}
	c, err := s.AcquireLease(ctx, state.WriterLease, "c/1", time.Minute)
	if err != nil || c.Token <= b2.Token {
		t.Fatalf("acquire after a release: %+v, %v", c, err)
	}
	tks, err := s.Takeovers(ctx, 10)
	if err != nil || len(tks) != 4 || tks[0].Holder != "c/1" || tks[0].Previous != "b/1" || tks[2].Previous != "a/1" || tks[0].Token != c.Token {
		t.Fatalf("take-overs, newest first: %+v, %v", tks, err)
	}
}

// testFence: writes under a fence carry its token; once the lease went
// to another holder they are refused, and write nothing.
func testFence(t *testing.T, s Store) {
	ctx := context.Background()
	const ttl = 400 * time.Millisecond
	a, err := s.AcquireLease(ctx, state.WriterLease, "a/1", ttl)
	if err != nil {
		t.Fatal(err)
	}
	s.Fence(a.Holder, a.Token)
	if err := s.SetMeta(ctx, "k", "by a"); err != nil {
		t.Fatalf("a write under a held lease: %v", err)
	}
	time.Sleep(ttl + 100*time.Millisecond)
	// Run out, nobody took it: still refused, the holder must acquire anew.
	if err := s.SetMeta(ctx, "k", "late"); !errors.Is(err, state.ErrFenced) {
		t.Fatalf("a write after the lease ran out: %v, want ErrFenced", err)
	}
	b, err := s.AcquireLease(ctx, state.WriterLease, "b/1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var fe *state.FencedError
	for name, write := range map[string]func() error{
		"SetMeta":   func() error { return s.SetMeta(ctx, "k", "stale") },
		"SetStatus": func() error { return s.SetStatus(ctx, []state.GroupStatus{{CloudID: "g", State: state.InStep}}) },
		"StartRun":  func() error { _, _, err := s.StartRun(ctx, "delta"); return err },
		"SaveCloud": func() error {
			return s.SaveCloud(ctx, state.CloudUpdate{Snapshot: cloud.NewSnapshot(), Links: state.Links{Groups: "x"}})
		},
		"RecordOperations": func() error {
			return s.RecordOperations(ctx, []state.Operation{{RunID: 1, CloudID: "g", Action: "create", At: time.Now()}})
		},
	} {
		if err := write(); !errors.As(err, &fe) || fe.Holder != "b/1" || fe.HolderToken != b.Token || fe.Token != a.Token {
			t.Errorf("%s by the old holder: %v, want a FencedError naming b/1 and token %d", name, err, b.Token)
		}
	}
	if v, _ := s.Meta(ctx, "k"); v != "by a" {
		t.Errorf("meta k = %q after refused writes, want %q", v, "by a")
	}
	if runs, _ := s.Runs(ctx, 5); len(runs) != 0 {
		t.Errorf("a refused StartRun left runs: %+v", runs)
	}
	if sts, _ := s.Statuses(ctx); len(sts) != 0 {
		t.Errorf("a refused SetStatus left statuses: %+v", sts)
	}
	s.Fence(b.Holder, b.Token)
	if err := s.SetMeta(ctx, "k", "by b"); err != nil {
		t.Fatalf("the new holder's write: %v", err)
	}
	s.Fence(b.Holder, 0) // no lease held: nothing is written
	if err := s.SetMeta(ctx, "k", "none"); !errors.Is(err, state.ErrFenced) {
		t.Fatalf("a write with no lease: %v, want ErrFenced", err)
	}
}

func testInstances(t *testing.T, s Store) {
	ctx := context.Background()
	start := time.Now().Truncate(time.Millisecond)
	for _, in := range []state.Instance{
		{ID: "b/2", Name: "b", Host: "hb", PID: 2, Version: "v", Role: "standby", Started: start},
		{ID: "a/1", Name: "a", Host: "ha", PID: 1, Version: "v", Role: "standby", Started: start},
		{ID: "a/1", Name: "a", Host: "ha", PID: 1, Version: "v", Role: "active", Started: start, Detail: "writing"},
	} {
		if err := s.Heartbeat(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	ins, err := s.Instances(ctx, time.Minute)
	if err != nil || len(ins) != 2 || ins[0].ID != "a/1" || ins[0].Role != "active" || ins[0].Detail != "writing" || !ins[0].Started.Equal(start) ||
		ins[1].Host != "hb" || ins[0].Seen.IsZero() {
		t.Fatalf("instances: %+v, %v", ins, err)
	}
	time.Sleep(50 * time.Millisecond)
	if ins, err := s.Instances(ctx, 10*time.Millisecond); err != nil || len(ins) != 0 {
		t.Fatalf("instances seen within 10ms: %+v, %v", ins, err)
	}
}

// testNudge: a standby, whose writes the fence refuses, still marks a
// change notification for the active instance; each mark differs from
// the last, and none is exported.
func testNudge(t *testing.T, s Store) {
	ctx := context.Background()
	if v, err := s.Nudged(ctx); v != "" || err != nil {
		t.Fatalf("a new state is nudged: %q, %v", v, err)
	}
	if _, err := s.AcquireLease(ctx, state.WriterLease, "active/1", time.Minute); err != nil {
		t.Fatal(err)
	}
	s.Fence("standby/1", 0) // this instance holds no lease
	if err := s.SetMeta(ctx, "k", "v"); !errors.Is(err, state.ErrFenced) {
		t.Fatalf("a standby's write: %v, want ErrFenced", err)
	}
	seen := map[string]bool{"": true}
	for range 3 {
		if err := s.Nudge(ctx); err != nil {
			t.Fatalf("a standby's nudge: %v", err)
		}
		v, err := s.Nudged(ctx)
		if err != nil || seen[v] {
			t.Fatalf("nudged %q, %v: want a mark not seen before", v, err)
		}
		seen[v] = true
	}
	// The notifications' status, written by the instance that keeps them.
	if doc, err := s.NotifyStatus(ctx); doc != nil || err != nil {
		t.Fatalf("a new state's notify status: %q, %v", doc, err)
	}
	for _, doc := range []string{`{"held":1}`, `{"held":2}`} {
		if err := s.SetNotifyStatus(ctx, []byte(doc)); err != nil {
			t.Fatal(err)
		}
		if got, err := s.NotifyStatus(ctx); string(got) != doc || err != nil {
			t.Fatalf("notify status %q, %v; want %s", got, err, doc)
		}
	}
	if e, err := s.Export(ctx); err != nil || len(e.Meta) != 0 {
		t.Errorf("the export carries %v (%v); a nudge is not the state's", e.Meta, err)
	}
}
