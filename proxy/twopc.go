package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vtgate-lite/vtgate-lite/router"
	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// Two-phase commit (transaction_mode: twopc).
//
//  1. Every keyspace a transaction touches starts it with XA START 'gtrid','keyspace'
//     (gtrid is unique per transaction: "vtgl-<process>-<session>-<n>").
//  2. COMMIT with one participant: XA END + XA COMMIT ... ONE PHASE.
//  3. COMMIT with several: XA END + XA PREPARE on each, in keyspace-name order. Any failure:
//     XA ROLLBACK everywhere (nothing was decided).
//  4. The decision is recorded in the state store ("twopc_<gtrid>": participants) - the
//     commit point - then XA COMMIT runs on each participant and the record is deleted.
//  5. On start, before serving, recovery finishes what a crash interrupted: every recorded
//     transaction is committed on every participant (an unknown XID means it already
//     was), and prepared vtgate-lite XIDs without a record are rolled back (presumed abort:
//     the crash came before the decision).
//
// MariaDB keeps prepared XA transactions across client disconnects (10.5+), so a proxy
// crash between prepare and commit leaves them for recovery.

const xaPrefix = "vtgl-"

type twopcRecord struct {
	GTRID        string   `json:"gtrid"`
	Participants []string `json:"participants"` // keyspace names (the XA branch qualifier)
	Decided      string   `json:"decided_at"`
}

var processTag = func() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}()

// twopcHook lets tests stop a commit at a named point, as a crash would (by panicking:
// the session dies without cleanup, the prepared branches stay on the servers).
var twopcHook func(point string)

func hook(point string) {
	if twopcHook != nil {
		twopcHook(point)
	}
}

func xid(gtrid, ks string) string {
	return "'" + gtrid + "','" + strings.ReplaceAll(ks, "'", "''") + "'"
}

// commitTwoPC commits the session's XA transaction branches.
func (s *session) commitTwoPC(names []string) error {
	gtrid := s.xaID
	if len(names) == 1 {
		c := s.txConns[names[0]]
		if _, err := c.exec("XA END " + xid(gtrid, names[0])); err != nil {
			return err
		}
		_, err := c.exec("XA COMMIT " + xid(gtrid, names[0]) + " ONE PHASE")
		return err
	}
	for i, ks := range names {
		c := s.txConns[ks]
		_, err := c.exec("XA END " + xid(gtrid, ks))
		if err == nil {
			_, err = c.exec("XA PREPARE " + xid(gtrid, ks))
		}
		if err == nil && i == len(names)-1 {
			hook("after-prepare")
		}
		if err != nil {
			s.rollbackTwoPC(names)
			return fmt.Errorf("two-phase commit: prepare on keyspace %s failed, transaction rolled back: %w", ks, err)
		}
	}
	rec, _ := json.Marshal(twopcRecord{GTRID: gtrid, Participants: names, Decided: time.Now().UTC().Format(time.RFC3339Nano)})
	if err := s.p.cfg.Store.Put("twopc_"+gtrid, rec); err != nil {
		s.rollbackTwoPC(names)
		return fmt.Errorf("two-phase commit: recording the decision failed, transaction rolled back: %w", err)
	}
	hook("after-record")
	for i, ks := range names {
		if _, err := s.txConns[ks].exec("XA COMMIT " + xid(gtrid, ks)); err != nil {
			// The decision is recorded: recovery will finish it. Report the failure honestly.
			return sqlerr.Wrap(err, sqlerr.ERUnknown, "HY000",
				"two-phase commit decided but XA COMMIT on keyspace %s failed (%v); it will be completed by recovery", ks, err)
		}
		if i == 0 {
			hook("after-first-commit")
		}
	}
	return s.p.cfg.Store.Delete("twopc_" + gtrid)
}

func (s *session) rollbackTwoPC(names []string) {
	for _, ks := range names {
		c := s.txConns[ks]
		_, _ = c.exec("XA END " + xid(s.xaID, ks)) // fails harmlessly when already ended
		if _, err := c.exec("XA ROLLBACK " + xid(s.xaID, ks)); err != nil {
			c.broken = true
		}
	}
}

// RecoverTwoPC resolves two-phase commits a crash interrupted. Run it before serving.
func (p *Proxy) RecoverTwoPC(ctx context.Context) error {
	if p.cfg.Store == nil {
		return nil
	}
	rt := p.cfg.Routing.Load()
	keys, err := p.cfg.Store.List("twopc_")
	if err != nil {
		return err
	}
	recorded := map[string]bool{}
	for _, key := range keys {
		b, ok, err := p.cfg.Store.Get(key)
		if err != nil || !ok {
			continue
		}
		var rec twopcRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("twopc record %s: %w", key, err)
		}
		recorded[rec.GTRID] = true
		for _, ks := range rec.Participants {
			if err := p.commitRecovered(ctx, rt, rec.GTRID, ks); err != nil {
				return fmt.Errorf("twopc recovery: commit %s on %s: %w", rec.GTRID, ks, err)
			}
		}
		if err := p.cfg.Store.Delete(key); err != nil {
			return err
		}
		p.log.Info("two-phase commit recovered: committed", "gtrid", rec.GTRID, "participants", rec.Participants)
	}
	// Prepared branches of ours without a decision: roll back. A crashed session's branches
	// appear in XA RECOVER only once the server has detached them: give them the grace.
	if p.cfg.TransactionMode == "twopc" {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(detachGrace):
		}
	}
	for _, ks := range rt.KeyspaceNames() {
		pl, err := p.poolFor(rt, ks, router.Primary, connCaps{}, account{})
		if err != nil {
			continue
		}
		c, err := pl.get(ctx, "", nil)
		if err != nil {
			p.log.Warn("twopc recovery: keyspace unreachable", "keyspace", ks, "err", err)
			continue
		}
		var orphans []string
		err = c.query("XA RECOVER", 0, func(_ []colInfo, row [][]byte) error {
			data := string(row[3])
			if strings.HasPrefix(data, xaPrefix) {
				orphans = append(orphans, data)
			}
			return nil
		})
		for _, data := range orphans {
			var gl int
			// data is gtrid followed by bqual; our bqual is the keyspace name.
			gl = len(data) - len(ks)
			if gl <= 0 || data[gl:] != ks || recorded[data[:gl]] {
				continue
			}
			if _, rerr := c.exec("XA ROLLBACK " + xid(data[:gl], ks)); rerr != nil && !isUnknownXID(rerr) {
				err = errors.Join(err, rerr)
			} else {
				p.log.Info("two-phase commit recovered: rolled back undecided branch", "gtrid", data[:gl], "keyspace", ks)
			}
		}
		pl.put(c)
		if err != nil {
			return fmt.Errorf("twopc recovery on %s: %w", ks, err)
		}
	}
	return nil
}

// commitRecovered commits one recorded branch. "Unknown XID" normally means it was
// committed before the crash, but a crashed session's prepared branch is detached by the
// server only a moment after the disconnect, and until then it is unknown too: so the
// answer is believed only after a grace of detachGrace (recovery is rare; the wait is cheap).
func (p *Proxy) commitRecovered(ctx context.Context, rt *router.Table, gtrid, ks string) error {
	deadline := time.Now().Add(detachGrace)
	for {
		err := p.xaExec(ctx, rt, ks, "XA COMMIT "+xid(gtrid, ks))
		if err == nil || !isUnknownXID(err) {
			return err
		}
		if time.Now().After(deadline) {
			return nil // never prepared anywhere since: committed before the crash
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

const detachGrace = 2 * time.Second

func (p *Proxy) xaExec(ctx context.Context, rt *router.Table, ks, sql string) error {
	pl, err := p.poolFor(rt, ks, router.Primary, connCaps{}, account{})
	if err != nil {
		return err
	}
	c, err := pl.get(ctx, "", nil)
	if err != nil {
		return err
	}
	_, err = c.exec(sql)
	pl.put(c)
	return err
}

func isUnknownXID(err error) bool {
	var e *sqlerr.Error
	return errors.As(err, &e) && e.Code == 1397 // XAER_NOTA
}

// sortedKeyspaces lists the transaction's keyspaces in commit order.
func sortedKeyspaces(m map[string]*backendConn) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
