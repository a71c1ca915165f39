// Package topo is what several vtgate-lite instances share: the routing schema (VSchemas and
// routing rules) as one versioned value, and a registry of the live instances. The Topo
// interface has two implementations: File (state_dir, one instance: today's behaviour, the
// default) and Etcd (any number of instances on one etcd, under topo.root).
//
// Flow:
//  1. cmd opens the topology (OpenFile or OpenEtcd) and Boot returns the schema to serve: the
//     stored one, or the seed stored with a create-if-absent (the first instance wins, the
//     others read its schema); config VSchemas of keyspaces the stored schema lacks are added.
//     When etcd does not answer, Boot starts from the routing cached in state_dir (SaveCache
//     writes it on every change) if there is one, and refuses to start otherwise.
//  2. router.NewSharedHolder serves that schema at its revision; every change (ALTER VSCHEMA,
//     migration steps) is an Update: read the schema and its ModRevision, edit a copy, store it
//     in a transaction that compares the ModRevision, and on a conflict edit the schema that
//     won. Two instances changing the schema at once both land, in some order; none is lost.
//  3. Follow watches the schema key from the revision served (WithRequireLeader, so a member
//     cut off from its leader ends the watch instead of stalling it) and Holder.Apply swaps in
//     every newer revision. A broken watch resumes from the last revision seen; when that
//     revision was compacted away, the schema is read again with a Get.
//  4. Register puts <root>/vtgates/<id> (Instance as JSON) on a lease kept alive in the
//     background, put again when the revision served changes; a lease lost (etcd down longer
//     than the TTL) is granted anew. Registration.Deadline is the fail-closed bound: until then
//     the lease is certainly alive (last keepalive answer + TTL - margin).
//  5. AwaitServed polls the registrations until every live instance serves a revision (a
//     statement that changed the routing returns then), or names the ones that do not.
//  6. etcd down: the routing table in memory keeps serving; Update fails with a MySQL error
//     1105 naming the server ("topology server 127.0.0.1:2379 unavailable: ..."), and since the
//     store is one compare-and-swap, nothing is half-applied. The watch and the registration
//     retry by themselves, so instances catch up when etcd returns.
//
// Key layout under the root (Keys): routing/schema, vtgates/<id>, workflows/<keyspace>/<name>
// (the workflow registry; runner election under .../runner), twopc/<dtid>.
//
// Why go.etcd.io/etcd/client/v3: it is etcd's own client (gRPC), the one Vitess's etcd2topo
// uses, with transactions (compare-and-swap on ModRevision), watches that resume from a
// revision and report compaction, and leases with keepalives: everything above in one
// dependency. The version is the one vitess v0.24.4 already requires (v3.6.10), so the module
// graph does not move; it speaks the v3 API that Debian's etcd 3.4 server serves.
package topo
