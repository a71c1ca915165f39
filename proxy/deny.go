package proxy

import (
	"github.com/vtgate-lite/vtgate-lite/planner"
)

// Server-wide statements are for admins (planner/privilege.go decides, per plan): a user
// without admin gets the error a MySQL server gives an account lacking the privilege; the
// refusal is logged and counted. Admins are never refused by this check.

// check is the privilege check of a plan about to run or be prepared: one branch when the
// plan has no verdict (the verdict is computed with the plan and cached with it).
func (s *session) check(pl *planner.Plan) error {
	if pl.Deny == nil {
		return nil
	}
	return s.refuse(pl)
}

// refuse is check's slow path: the refusal for a user without admin; for an admin, the
// error of a Failed plan (USE mysql: not a keyspace), else nil.
func (s *session) refuse(pl *planner.Plan) error {
	u := s.c.User
	if u != nil && u.Admin {
		if pl.Kind == planner.Failed {
			return pl.Err
		}
		return nil
	}
	d := pl.Deny
	name, usingPassword := "", false
	if u != nil {
		name, usingPassword = u.Name, u.Password != "" || u.NativeHash != nil
	}
	host := userHost(s.c)
	s.p.metrics.deniedBy[d.Reason].Inc()
	// What, never the text: it may hold a password (CREATE USER ... IDENTIFIED BY).
	s.p.log.Warn("statement refused: it needs vtgate-lite admin", "user", name, "client", host,
		"session", s.c.ID, "reason", d.Reason.String(), "code", d.Code, "what", d.What)
	return d.Error(name, host, usingPassword)
}
