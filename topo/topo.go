package topo

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/vtgate-lite/vtgate-lite/router"
	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// Topo is the state every instance of one vtgate-lite cluster shares.
type Topo interface {
	// Address names the topology server in errors and logs ("127.0.0.1:2379", "state_dir ...").
	Address() string
	// Schema returns the stored routing schema and its revision; ok is false when none is stored.
	Schema(ctx context.Context) (v Versioned, ok bool, err error)
	// Create stores s unless a schema is stored already, and returns what is stored; created
	// says whether it was s.
	Create(ctx context.Context, s *router.Schema) (v Versioned, created bool, err error)
	// Update applies edit to a copy of the latest stored schema (an empty one if none) and
	// stores it by compare-and-swap, calling edit again on the new latest schema when another
	// instance stored first: edit must be a pure function of its argument. When edit returns
	// router.ErrNoChange nothing is stored and Update returns the latest schema and that error.
	Update(ctx context.Context, edit func(*router.Schema) error) (Versioned, error)
	// Watch calls fn, in order, with every revision of the schema stored after revision from,
	// until ctx ends; it resumes by itself after errors and reloads after a compaction.
	Watch(ctx context.Context, from int64, fn func(Versioned)) error
	// Register makes inst appear in Instances while the returned Registration is open. It
	// does not wait for the topology server: the registration retries in the background.
	Register(ctx context.Context, inst Instance) (Registration, error)
	// Instances lists the live instances, by ID.
	Instances(ctx context.Context) ([]Instance, error)
	Close() error
}

// Versioned is a routing schema and the revision it was stored at.
type Versioned struct {
	Schema   *router.Schema
	Revision int64
}

// Instance is one live vtgate-lite's registration, stored as JSON at <root>/vtgates/<id>.
type Instance struct {
	ID             string    `json:"id"`
	MySQLAddr      string    `json:"mysql_addr"`
	HTTPAddr       string    `json:"http_addr"`
	Version        string    `json:"version"`
	RevisionServed int64     `json:"revision_served"`
	Started        time.Time `json:"started"`       // when the process started
	LeaseGranted   time.Time `json:"lease_granted"` // when the current lease was granted (its clock)
	Workflows      []string  `json:"workflows,omitempty"`
}

// Registration is an instance's entry in the registry.
type Registration interface {
	// SetRevision records the routing revision this instance now serves (a lower one than
	// recorded is ignored).
	SetRevision(rev int64)
	// SetWorkflows records the workflows this instance runs.
	SetWorkflows(names []string)
	// Deadline is the time until which the registration's lease is certainly alive (the last
	// keepalive answer + TTL - a margin); zero before the first lease. An instance that must
	// fail closed stops trusting its view of the topology after it.
	Deadline() time.Time
	// Close removes the registration (revokes the lease) and stops its goroutine.
	Close() error
}

// SharedSchema adapts t to router.SharedSchema, for router.NewSharedHolder.
func SharedSchema(t Topo) router.SharedSchema { return sharedSchema{t} }

type sharedSchema struct{ t Topo }

func (s sharedSchema) UpdateSchema(ctx context.Context, edit func(*router.Schema) error) (*router.Schema, int64, error) {
	v, err := s.t.Update(ctx, edit)
	return v.Schema, v.Revision, err
}

// UnavailableError is a topology server that did not answer.
type UnavailableError struct {
	Address string
	Err     error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("topology server %s unavailable: %v", e.Address, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// unavailable is the MySQL error a client gets when a statement needs the topology server
// and it does not answer; errors.As finds the *UnavailableError inside.
func unavailable(addr string, err error) error {
	ue := &UnavailableError{Address: addr, Err: err}
	return sqlerr.Wrap(ue, sqlerr.ERUnknown, "HY000", "%s", ue.Error())
}

// Keys is the key layout under a root.
type Keys struct{ Root string }

// Schema is the routing schema's key.
func (k Keys) Schema() string { return k.Root + "/routing/schema" }

// VTGates is the prefix of the instance registrations.
func (k Keys) VTGates() string { return k.Root + "/vtgates/" }

// VTGate is one instance's registration.
func (k Keys) VTGate(id string) string { return k.VTGates() + id }

// Workflows is the prefix of the workflow registry.
func (k Keys) Workflows() string { return k.Root + "/workflows/" }

// Workflow is the registry record of workflow keyspace.name.
func (k Keys) Workflow(keyspace, name string) string { return k.Workflows() + keyspace + "/" + name }

// WorkflowRunner is the election prefix of the instance that runs a workflow.
func (k Keys) WorkflowRunner(keyspace, name string) string {
	return k.Workflow(keyspace, name) + "/runner"
}

// TwoPC is a two-phase-commit decision record.
func (k Keys) TwoPC(dtid string) string { return k.Root + "/twopc/" + dtid }

func checkID(id string) error {
	if id == "" || strings.ContainsAny(id, "/ \t\n") {
		return fmt.Errorf("invalid instance id %q (want no '/' or spaces)", id)
	}
	return nil
}

func emptySchema() *router.Schema {
	return &router.Schema{VSchema: map[string]*router.KeyspaceVSchema{}, Rules: map[string]string{}}
}

func encodeSchema(s *router.Schema) ([]byte, error) { return json.Marshal(s) }

func decodeSchema(b []byte) (*router.Schema, error) {
	s := &router.Schema{}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, err
	}
	if s.VSchema == nil {
		s.VSchema = map[string]*router.KeyspaceVSchema{}
	}
	if s.Rules == nil {
		s.Rules = map[string]string{}
	}
	return s, nil
}
