//! Domain services: the rules of accounts, sessions, keys, RBAC and friends, over `db`.

pub mod clock;
pub mod ids;
