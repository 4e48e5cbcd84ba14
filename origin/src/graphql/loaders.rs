//! DataLoaders for every relation that would otherwise query once per item: the roles of users,
//! role records, the permissions of roles, users' effective permissions, the sessions of users.
//! One loader per request (it carries the caller's `Ctx`, so the domain checks every batch with
//! the caller's authority, and nothing is cached across callers).
//!
//! With `GRAPHQL_DATALOADER=false` the same domain reads run once per item instead: the N+1
//! baseline docs/PERFORMANCE.md compares against.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};

use super::errors::Failure;
use crate::domain::rbac::Effective;
use crate::domain::relations::{self, RoleRecord};
use crate::domain::sessions::SessionView;
use crate::domain::{Core, Ctx};

/// The roles assigned to a user (key: user id).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RolesOf(pub String);
/// A role's record (key: role name).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RoleNamed(pub String);
/// The permissions granted to a role directly (key: role name).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PermissionsOf(pub String);
/// A user's effective roles and permissions (key: user id).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EffectiveOf(pub String);
/// A user's live sessions (key: user id).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SessionsOf(pub String);

/// The domain reads, for the caller of one request.
pub struct Relations {
    core: Arc<Core>,
    ctx: Ctx,
}

fn keys<K>(ks: &[K], f: impl Fn(&K) -> &String) -> Vec<String> {
    ks.iter().map(|k| f(k).clone()).collect()
}

fn rekey<K: Eq + Hash, V>(m: HashMap<String, V>, k: impl Fn(String) -> K) -> HashMap<K, V> {
    m.into_iter().map(|(key, v)| (k(key), v)).collect()
}

impl Loader<RolesOf> for Relations {
    type Value = Vec<String>;
    type Error = Failure;
    async fn load(&self, ks: &[RolesOf]) -> Result<HashMap<RolesOf, Vec<String>>, Failure> {
        let m = relations::roles_of_users(&self.core, &self.ctx, &keys(ks, |k| &k.0)).await?;
        Ok(rekey(m, RolesOf))
    }
}

impl Loader<RoleNamed> for Relations {
    type Value = RoleRecord;
    type Error = Failure;
    async fn load(&self, ks: &[RoleNamed]) -> Result<HashMap<RoleNamed, RoleRecord>, Failure> {
        let m = relations::roles_by_name(&self.core, &self.ctx, &keys(ks, |k| &k.0)).await?;
        Ok(rekey(m, RoleNamed))
    }
}

impl Loader<PermissionsOf> for Relations {
    type Value = Vec<String>;
    type Error = Failure;
    async fn load(
        &self,
        ks: &[PermissionsOf],
    ) -> Result<HashMap<PermissionsOf, Vec<String>>, Failure> {
        let m = relations::permissions_of_roles(&self.core, &self.ctx, &keys(ks, |k| &k.0)).await?;
        Ok(rekey(m, PermissionsOf))
    }
}

impl Loader<EffectiveOf> for Relations {
    type Value = Effective;
    type Error = Failure;
    async fn load(&self, ks: &[EffectiveOf]) -> Result<HashMap<EffectiveOf, Effective>, Failure> {
        let m = relations::effective_of_users(&self.core, &self.ctx, &keys(ks, |k| &k.0)).await?;
        Ok(rekey(m, EffectiveOf))
    }
}

impl Loader<SessionsOf> for Relations {
    type Value = Vec<SessionView>;
    type Error = Failure;
    async fn load(
        &self,
        ks: &[SessionsOf],
    ) -> Result<HashMap<SessionsOf, Vec<SessionView>>, Failure> {
        let m = relations::sessions_of_users(&self.core, &self.ctx, &keys(ks, |k| &k.0)).await?;
        Ok(rekey(m, SessionsOf))
    }
}

/// What resolvers load relations through.
pub struct Loaders {
    batched: Option<DataLoader<Relations, HashMapCache>>,
    direct: Relations,
}

impl Loaders {
    pub fn new(core: Arc<Core>, ctx: Ctx, batched: bool) -> Loaders {
        let direct = Relations { core, ctx };
        Loaders {
            batched: batched.then(|| {
                // Cached for this request only: a role met under 50 users is read once.
                DataLoader::with_cache(
                    Relations {
                        core: direct.core.clone(),
                        ctx: direct.ctx.clone(),
                    },
                    tokio::spawn,
                    HashMapCache::default(),
                )
            }),
            direct,
        }
    }

    /// One item's relation: batched with every other load of the same kind in this request,
    /// or (DataLoader off) read on its own.
    pub async fn one<K>(&self, key: K) -> Result<Option<<Relations as Loader<K>>::Value>, Failure>
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        Relations: Loader<K, Error = Failure>,
    {
        match &self.batched {
            Some(dl) => dl.load_one(key).await,
            None => {
                let mut m = self.direct.load(std::slice::from_ref(&key)).await?;
                Ok(m.remove(&key))
            }
        }
    }

    /// Loads a relation for many items in one batch ahead of their fields, so the per-item
    /// loads that follow are answered from this request's cache whatever the timing (a page's
    /// 50 items do not always ask within one DataLoader delay). Nothing without DataLoader.
    pub async fn prime<K>(&self, ks: Vec<K>) -> Result<(), Failure>
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        Relations: Loader<K, Error = Failure>,
    {
        match &self.batched {
            Some(dl) if !ks.is_empty() => dl.load_many(ks).await.map(|_| ()),
            _ => Ok(()),
        }
    }

    pub fn batched(&self) -> bool {
        self.batched.is_some()
    }

    /// Several items' relation (e.g. the records of a user's roles).
    pub async fn many<K>(
        &self,
        ks: Vec<K>,
    ) -> Result<HashMap<K, <Relations as Loader<K>>::Value>, Failure>
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        Relations: Loader<K, Error = Failure>,
    {
        match &self.batched {
            Some(dl) => dl.load_many(ks).await,
            None => {
                // Without DataLoader: one read per item, as a naive resolver would.
                let mut out = HashMap::new();
                for k in ks {
                    let mut m = self.direct.load(std::slice::from_ref(&k)).await?;
                    if let Some(v) = m.remove(&k) {
                        out.insert(k, v);
                    }
                }
                Ok(out)
            }
        }
    }
}
