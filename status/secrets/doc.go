// Package secrets encrypts pipeline secrets with a Fernet key
// (ENCRYPTION_KEY) before they reach the store, and decrypts them for the
// runs that name them.
//
// The store (status.SecretStore) only ever sees Fernet tokens, so a
// database dump or backup reveals no secret. Values never appear in errors
// or logs made here; names do, because they are what a user must fix.
//
// A Vault is made at start and checked there (Vault.Check): a wrong key is
// reported when the server starts, not when the first run needs a secret.
// Vault.Secrets has the shape of operator.SecretSource; this package does
// not import the operator (status is below it), so its ErrMissing is a
// sentinel of its own, which callers map like operator.ErrMissingSecret.
package secrets
