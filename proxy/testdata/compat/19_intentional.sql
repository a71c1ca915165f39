-- Own cases for the documented intentional differences (docs/compatibility.md): the proxy's
-- connection ids and processlist, statements routed to another keyspace (routing), the backend
-- account shown by USER()/CURRENT_USER(). Run as the non-admin user app.
-- name: connection_id
SELECT CONNECTION_ID()
-- name: processlist
-- nondeterministic
SHOW PROCESSLIST
-- name: processlist_is
-- nondeterministic
SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()
-- name: user
SELECT USER(), CURRENT_USER()
-- name: routed_elsewhere
SELECT * FROM elsewhere
-- name: routed_elsewhere_unparsed
CREATE OR REPLACE VIEW v_else AS SELECT * FROM elsewhere
