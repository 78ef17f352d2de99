// Package storetest is the conformance suite for status.Store
// implementations, and the helper that gives tests a fresh PostgreSQL
// database.
//
// Every implementation runs the same suite, so SQLite and PostgreSQL (and
// any fake) cannot drift apart:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) status.Store { return openMigrated(t) })
//	}
//
// RunReplicas runs the admission races with two stores on one database,
// for implementations that several processes can share.
package storetest
