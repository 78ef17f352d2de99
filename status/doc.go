// Package status holds what the world can see about Fast-Flow: runs, sync
// events, pipeline counters and cache state, schedule state, secrets, users,
// sessions, API tokens and webhook deliveries.
//
// The domain types and the [Store] interface live here so that the operator
// and the web UI depend on behaviour, not on a database. Implementations live
// in sub-packages: status/sqlstore serves SQLite (the default) and PostgreSQL
// through one SQL layer, and status/storetest is the conformance suite every
// implementation must pass.
//
// All times handed to or returned by a Store are UTC with microsecond
// precision, the finest precision both databases keep.
package status
