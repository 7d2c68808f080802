// Package state is the vocabulary of groupwriteback's state, with no
// driver: each group's status and its states, the runs and the operations
// they wrote, the binding to a tenant and domain, the enablement, the
// delta links and what a cycle saves, the writer lease and its fencing,
// the instances and take-overs, the export format and its checks. The
// store (SQLite, PostgreSQL) keeps these; the engine, the server and the
// commands speak them without compiling a database driver.
package state
