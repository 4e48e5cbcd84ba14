//! The domain's invariants, called directly (no HTTP, no envelope): what a GraphQL resolver or
//! an OAuth callback gets when it calls the same operations as the REST handlers. Each test
//! names the rule it holds the operation to; the storage is the same SQLite / PostgreSQL the
//! HTTP suite uses (`TEST_DATABASE_URL`).

mod common;

use edge_auth_origin::config::Config;
use edge_auth_origin::db::Backend;
use edge_auth_origin::domain::clock::Clock;
use edge_auth_origin::domain::error::RefreshRefused;
use edge_auth_origin::domain::{
    accounts, keys, rbac, sessions, webhooks, Core, Ctx, DomainError, Page, What,
};
use sqlx::Executor;

const PASSWORD: &str = common::PASSWORD;

async fn core_with(extra: &[(&str, &str)]) -> Core {
    let mut env = common::base_env();
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    let config = Config::from_map(&env).expect("test config");
    Core::new(config, common::test_db().await, Clock::system())
        .await
        .expect("core")
}

async fn core() -> Core {
    core_with(&[]).await
}

/// Now, unix seconds: an authentication that just happened (role changes need a fresh one).
fn just_now() -> Option<i64> {
    Some(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    )
}

/// An administrator as the edge vouched for them, just signed in: both admin powers.
fn admin() -> Ctx {
    Ctx {
        actor: Some("usr_root".into()),
        request_id: Some("req-domain-1".into()),
        auth_time: just_now(),
        ..Default::default()
    }
    .with_permissions(["rbac:admin", "webhooks:admin", "profile:read"])
}

async fn count(core: &Core, sql: &str, arg: &str) -> i64 {
    sqlx::query_scalar(sql)
        .bind(arg.to_owned())
        .fetch_one(&core.db.pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Users with an "every token issued before now is void" mark in the revocation feed.
async fn voided_users(core: &Core) -> Vec<String> {
    let mut v: Vec<String> =
        sqlx::query_scalar("SELECT user_id FROM revocations WHERE kind = 'user' ORDER BY user_id")
            .fetch_all(&core.db.pool)
            .await
            .unwrap();
    v.dedup();
    v
}

async fn audited(core: &Core, action: &str) -> i64 {
    count(
        core,
        "SELECT COUNT(*) FROM audit_log WHERE action = $1",
        action,
    )
    .await
}

async fn user(core: &Core, email: &str) -> String {
    accounts::signup(core, &Ctx::default(), email, PASSWORD.into())
        .await
        .expect("signup")
        .id
}

/// Makes every INSERT into `table` fail from now on: a storage failure injected at one exact
/// point of an operation, the same way on both backends.
async fn refuse_inserts(core: &Core, table: &str) {
    let stmts = match core.db.backend {
        Backend::Sqlite => vec![format!(
            "CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )],
        Backend::Postgres => vec![
            "CREATE OR REPLACE FUNCTION refuse_write() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$"
                .to_owned(),
            format!(
                "CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} \
                 FOR EACH ROW EXECUTE FUNCTION refuse_write()"
            ),
        ],
    };
    for s in stmts {
        core.db.pool.execute(s.as_str()).await.expect(&s);
    }
}

async fn allow_inserts(core: &Core, table: &str) {
    let s = match core.db.backend {
        Backend::Sqlite => format!("DROP TRIGGER refuse_{table}"),
        Backend::Postgres => format!("DROP TRIGGER refuse_{table} ON {table}"),
    };
    core.db.pool.execute(s.as_str()).await.expect(&s);
}

// ---------------------------------------------------------------- RBAC invariants

#[tokio::test]
async fn separation_of_duty_refuses_an_assignment_that_completes_an_exclusive_pair() {
    let c = core().await;
    let a = admin();
    rbac::create_role(&c, &a, "payer", None, "").await.unwrap();
    rbac::create_role(&c, &a, "approver", None, "")
        .await
        .unwrap();
    // Inherited roles count: holding `approver-lead` means holding `approver`.
    rbac::create_role(&c, &a, "approver-lead", Some("approver"), "")
        .await
        .unwrap();
    rbac::add_sod(&c, &a, "payer", "approver").await.unwrap();
    let u = user(&c, "sod@example.com").await;
    assert!(rbac::grant_role(&c, &a, &u, "payer").await.unwrap());
    let voided_before = voided_users(&c).await;

    let e = rbac::grant_role(&c, &a, &u, "approver-lead")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, DomainError::SeparationOfDuty { a, b } if a == "approver" && b == "payer"),
        "{e:?}"
    );
    // Refused means nothing written: no assignment, no audit entry, no revocation mark.
    assert_eq!(
        rbac::user_roles(&c, &admin(), &u)
            .await
            .unwrap()
            .assigned_roles,
        ["payer", "user"]
    );
    assert_eq!(audited(&c, "role.assign").await, 1, "only the payer grant");
    assert_eq!(voided_users(&c).await, voided_before);

    // Same pair given either way round; the same role twice is not a pair.
    assert!(matches!(
        rbac::add_sod(&c, &a, "payer", "payer").await,
        Err(DomainError::SodSameRole)
    ));
    assert!(matches!(
        rbac::remove_sod(&c, &a, "approver", "payer").await,
        Ok(())
    ));
    assert!(matches!(
        rbac::remove_sod(&c, &a, "approver", "payer").await,
        Err(DomainError::NotFound(What::SodPair))
    ));
    // With the pair gone, the assignment goes through.
    assert!(rbac::grant_role(&c, &a, &u, "approver-lead").await.unwrap());
}

#[tokio::test]
async fn a_parent_that_would_make_a_cycle_is_refused() {
    let c = core().await;
    let a = admin();
    rbac::create_role(&c, &a, "r-top", None, "").await.unwrap();
    rbac::create_role(&c, &a, "r-mid", Some("r-top"), "")
        .await
        .unwrap();
    rbac::create_role(&c, &a, "r-low", Some("r-mid"), "")
        .await
        .unwrap();
    for (role, parent) in [("r-top", "r-low"), ("r-top", "r-mid"), ("r-mid", "r-mid")] {
        let e = rbac::set_parent(&c, &a, role, Some(parent))
            .await
            .unwrap_err();
        assert!(
            matches!(e, DomainError::RoleCycle),
            "{role} under {parent}: {e:?}"
        );
    }
    let top = rbac::list_roles(&c, &admin())
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.name == "r-top")
        .unwrap();
    assert_eq!(top.parent, None, "the refused change left no trace");
    assert_eq!(audited(&c, "role.set_parent").await, 0);
    // A parent that does not exist, and a role that does not exist.
    assert!(matches!(
        rbac::set_parent(&c, &a, "r-top", Some("nope")).await,
        Err(DomainError::ParentRoleNotFound)
    ));
    assert!(matches!(
        rbac::set_parent(&c, &a, "nope", None).await,
        Err(DomainError::NotFound(What::Role))
    ));
}

#[tokio::test]
async fn the_seeded_roles_are_protected() {
    let c = core().await;
    for r in ["admin", "user"] {
        let e = rbac::delete_role(&c, &admin(), r).await.unwrap_err();
        assert!(matches!(e, DomainError::RoleProtected), "{r}: {e:?}");
    }
    let names: Vec<String> = rbac::list_roles(&c, &admin())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert!(names.contains(&"admin".to_owned()) && names.contains(&"user".to_owned()));
    assert_eq!(audited(&c, "role.delete").await, 0);
}

#[tokio::test]
async fn role_and_permission_names_are_checked_and_unique() {
    let c = core().await;
    let a = admin();
    assert!(matches!(
        rbac::create_role(&c, &a, "Bad Name", None, "").await,
        Err(DomainError::InvalidName(What::Role))
    ));
    assert!(matches!(
        rbac::create_permission(&c, &a, ":nope", "").await,
        Err(DomainError::InvalidName(What::Permission))
    ));
    assert!(matches!(
        rbac::create_role(&c, &a, "child", Some("ghost"), "").await,
        Err(DomainError::ParentRoleNotFound)
    ));
    rbac::create_role(&c, &a, "dup", None, "").await.unwrap();
    assert!(matches!(
        rbac::create_role(&c, &a, "dup", None, "").await,
        Err(DomainError::AlreadyExists(What::Role))
    ));
    rbac::create_permission(&c, &a, "dup:perm", "")
        .await
        .unwrap();
    assert!(matches!(
        rbac::create_permission(&c, &a, "dup:perm", "").await,
        Err(DomainError::AlreadyExists(What::Permission))
    ));
    assert!(matches!(
        rbac::grant_permission(&c, &a, "dup", "ghost:perm").await,
        Err(DomainError::NotFound(What::Permission))
    ));
    assert!(matches!(
        rbac::grant_role(&c, &a, "usr_ghost", "dup").await,
        Err(DomainError::NotFound(What::User))
    ));
    assert_eq!(audited(&c, "role.create").await, 1);
    assert_eq!(audited(&c, "permission.create").await, 1);
}

#[tokio::test]
async fn a_change_to_a_roles_permissions_voids_the_tokens_of_every_holder() {
    let c = core().await;
    let a = admin();
    rbac::create_role(&c, &a, "base", None, "").await.unwrap();
    rbac::create_role(&c, &a, "derived", Some("base"), "")
        .await
        .unwrap();
    rbac::create_permission(&c, &a, "reports:read", "")
        .await
        .unwrap();
    let direct = user(&c, "direct@example.com").await;
    let inherited = user(&c, "inherited@example.com").await;
    let bystander = user(&c, "bystander@example.com").await;
    rbac::grant_role(&c, &a, &direct, "base").await.unwrap();
    rbac::grant_role(&c, &a, &inherited, "derived")
        .await
        .unwrap();
    // Each assignment voided its own user's tokens (they carried the old roles).
    let mut expected = vec![direct.clone(), inherited.clone()];
    expected.sort();
    assert_eq!(voided_users(&c).await, expected);
    c.db.pool.execute("DELETE FROM revocations").await.unwrap();

    // A grant to `base` changes what `direct` and `inherited` hold; not the bystander.
    assert!(rbac::grant_permission(&c, &a, "base", "reports:read")
        .await
        .unwrap());
    assert_eq!(voided_users(&c).await, expected);
    assert!(!voided_users(&c).await.contains(&bystander));
    assert_eq!(audited(&c, "permission.grant").await, 1);

    // Granting what the role already has changes nothing: no mark, no audit entry.
    c.db.pool.execute("DELETE FROM revocations").await.unwrap();
    assert!(!rbac::grant_permission(&c, &a, "base", "reports:read")
        .await
        .unwrap());
    assert_eq!(voided_users(&c).await, Vec::<String>::new());
    assert_eq!(audited(&c, "permission.grant").await, 1);

    // Revoking it, re-parenting the role, deleting it: each voids the holders again.
    for step in ["revoke", "set_parent", "delete"] {
        c.db.pool.execute("DELETE FROM revocations").await.unwrap();
        match step {
            "revoke" => assert!(rbac::revoke_permission(&c, &a, "base", "reports:read")
                .await
                .unwrap()),
            "set_parent" => rbac::set_parent(&c, &a, "base", Some("user"))
                .await
                .unwrap(),
            _ => rbac::delete_role(&c, &a, "base").await.unwrap(),
        }
        let voided = voided_users(&c).await;
        assert_eq!(voided, expected, "{step}: the holders, not the bystander");
    }
    // After the delete, nobody holds `base` any more, and `derived` lost its parent.
    assert_eq!(
        rbac::user_roles(&c, &admin(), &direct)
            .await
            .unwrap()
            .assigned_roles,
        ["user"]
    );
    assert!(!rbac::user_roles(&c, &admin(), &inherited)
        .await
        .unwrap()
        .effective
        .roles
        .contains(&"base".to_owned()));
}

#[tokio::test]
async fn assigning_or_unassigning_a_role_voids_that_users_tokens_and_is_audited() {
    let c = core().await;
    let a = admin();
    let u = user(&c, "assign@example.com").await;
    assert!(rbac::grant_role(&c, &a, &u, "admin").await.unwrap());
    assert!(
        !rbac::grant_role(&c, &a, &u, "admin").await.unwrap(),
        "idempotent"
    );
    assert_eq!(voided_users(&c).await, [u.as_str()]);
    assert_eq!(audited(&c, "role.assign").await, 1);
    c.db.pool.execute("DELETE FROM revocations").await.unwrap();
    assert!(rbac::revoke_role(&c, &a, &u, "admin").await.unwrap());
    assert!(!rbac::revoke_role(&c, &a, &u, "admin").await.unwrap());
    assert_eq!(voided_users(&c).await, [u.as_str()]);
    assert_eq!(audited(&c, "role.unassign").await, 1);
    // The audit entry names who acted, and the request they acted in.
    let (actor, rid): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT actor, request_id FROM audit_log WHERE action = 'role.unassign'")
            .fetch_one(&c.db.pool)
            .await
            .unwrap();
    assert_eq!(
        (actor.as_deref(), rid.as_deref()),
        (Some("usr_root"), Some("req-domain-1"))
    );
}

#[tokio::test]
async fn every_admin_operation_checks_the_callers_permission_itself() {
    let c = core().await;
    let u = user(&c, "plain@example.com").await;
    // A signed-in user whose token carries ordinary permissions, and one with only the
    // other admin power: whatever surface calls the operation, it refuses them.
    let plain = Ctx::default().acting(&u).with_permissions(["profile:read"]);
    let webhooks_only = Ctx::default()
        .acting(&u)
        .with_permissions(["webhooks:admin"]);
    for who in [&plain, &webhooks_only, &Ctx::default()] {
        let refusals: Vec<(&str, Result<(), DomainError>)> = vec![
            (
                "create_role",
                rbac::create_role(&c, who, "sneaky", None, "").await,
            ),
            (
                "grant_role",
                rbac::grant_role(&c, who, &u, "admin").await.map(|_| ()),
            ),
            (
                "grant_permission",
                rbac::grant_permission(&c, who, "user", "rbac:admin")
                    .await
                    .map(|_| ()),
            ),
            ("delete_role", rbac::delete_role(&c, who, "user").await),
            (
                "set_disabled",
                accounts::set_disabled(&c, who, &u, true).await,
            ),
            ("rotate", keys::rotate(&c, who).await.map(|_| ())),
            ("list_roles", rbac::list_roles(&c, who).await.map(|_| ())),
            (
                "audit",
                edge_auth_origin::domain::audit::list(&c, who, None, Page::default())
                    .await
                    .map(|_| ()),
            ),
        ];
        for (op, r) in refusals {
            assert!(
                matches!(
                    r,
                    Err(DomainError::PermissionMissing {
                        permission: "rbac:admin"
                    })
                ),
                "{op} by {:?}: {r:?}",
                who.authority
            );
        }
    }
    for who in [&plain, &admin_without_webhooks()] {
        let r = webhooks::list(&c, who, &Default::default(), Page::default()).await;
        assert!(
            matches!(
                r,
                Err(DomainError::PermissionMissing {
                    permission: "webhooks:admin"
                })
            ),
            "{r:?}"
        );
    }
    // Nothing was written by any refused call.
    assert_eq!(
        rbac::user_roles(&c, &admin(), &u)
            .await
            .unwrap()
            .assigned_roles,
        ["user"]
    );
    assert!(!accounts::by_id(&c, &u).await.unwrap().unwrap().disabled);
    assert_eq!(voided_users(&c).await, Vec::<String>::new());
    assert_eq!(
        audited(&c, "role.create").await + audited(&c, "keys.rotate").await,
        0
    );
}

fn admin_without_webhooks() -> Ctx {
    Ctx {
        auth_time: just_now(),
        ..Ctx::default()
    }
    .acting("usr_root")
    .with_permissions(["rbac:admin"])
}

// ---------------------------------------------------------------- one transaction

#[tokio::test]
async fn a_failure_after_the_audit_write_rolls_back_the_change_and_the_audit_entry() {
    let c = core().await;
    let a = admin();
    rbac::create_role(&c, &a, "ops", None, "").await.unwrap();
    rbac::create_permission(&c, &a, "deploy:run", "")
        .await
        .unwrap();
    let u = user(&c, "ops@example.com").await;
    rbac::grant_role(&c, &a, &u, "ops").await.unwrap();
    // grant_permission writes the grant, then its audit entry, then the holders' revocation
    // marks; the marks now fail — after the audit row is already written.
    refuse_inserts(&c, "revocations").await;
    let e = rbac::grant_permission(&c, &a, "ops", "deploy:run")
        .await
        .unwrap_err();
    assert!(matches!(e, DomainError::Storage(_)), "{e:?}");
    assert_eq!(
        count(
            &c,
            "SELECT COUNT(*) FROM role_permissions WHERE role = $1",
            "ops"
        )
        .await,
        0,
        "the grant is rolled back"
    );
    assert_eq!(
        audited(&c, "permission.grant").await,
        0,
        "and so is its audit entry"
    );
    // The injected failure was the only reason: without it the same call commits all three.
    allow_inserts(&c, "revocations").await;
    assert!(rbac::grant_permission(&c, &a, "ops", "deploy:run")
        .await
        .unwrap());
    assert_eq!(audited(&c, "permission.grant").await, 1);
    assert!(voided_users(&c).await.contains(&u));
}

#[tokio::test]
async fn a_failing_audit_write_rolls_back_the_change_and_its_revocations() {
    let c = core().await;
    let a = admin();
    let u = user(&c, "audit-fail@example.com").await;
    let s = sessions::create(
        &c,
        &Ctx::default(),
        &accounts::by_id(&c, &u).await.unwrap().unwrap(),
    )
    .await
    .unwrap();
    refuse_inserts(&c, "audit_log").await;
    for (what, e) in [
        (
            "grant_role",
            rbac::grant_role(&c, &a, &u, "admin").await.map(|_| ()),
        ),
        ("disable", accounts::set_disabled(&c, &a, &u, true).await),
    ] {
        assert!(matches!(e, Err(DomainError::Storage(_))), "{what}: {e:?}");
    }
    allow_inserts(&c, "audit_log").await;
    assert_eq!(
        rbac::user_roles(&c, &admin(), &u)
            .await
            .unwrap()
            .assigned_roles,
        ["user"],
        "no admin role"
    );
    assert!(!accounts::by_id(&c, &u).await.unwrap().unwrap().disabled);
    assert!(
        sessions::is_live(&c, &s.session_id).await.unwrap(),
        "the session revocation rolled back with the disable"
    );
    assert_eq!(voided_users(&c).await, Vec::<String>::new());
}

// ---------------------------------------------------------------- accounts and sessions

#[tokio::test]
async fn sign_up_refuses_bad_emails_weak_passwords_and_taken_addresses() {
    let c = core().await;
    let ctx = Ctx::default();
    assert!(matches!(
        accounts::signup(&c, &ctx, "not-an-email", PASSWORD.into()).await,
        Err(DomainError::InvalidEmail)
    ));
    assert!(matches!(
        accounts::signup(&c, &ctx, "a@example.com", "short".into()).await,
        Err(DomainError::WeakPassword {
            reason: "password_too_short"
        })
    ));
    accounts::signup(&c, &ctx, "Taken@Example.com", PASSWORD.into())
        .await
        .unwrap();
    assert!(matches!(
        accounts::signup(&c, &ctx, "taken@example.com ", PASSWORD.into()).await,
        Err(DomainError::AlreadyExists(What::Email))
    ));
    assert_eq!(audited(&c, "user.signup").await, 1);
}

#[tokio::test]
async fn disabling_an_account_revokes_its_sessions_voids_its_tokens_and_refuses_log_in() {
    let c = core().await;
    let u = accounts::signup(&c, &Ctx::default(), "dis@example.com", PASSWORD.into())
        .await
        .unwrap();
    let s1 = sessions::create(&c, &Ctx::default(), &u).await.unwrap();
    let s2 = sessions::create(&c, &Ctx::default(), &u).await.unwrap();
    accounts::set_disabled(&c, &admin(), &u.id, true)
        .await
        .unwrap();
    for s in [&s1, &s2] {
        assert!(!sessions::is_live(&c, &s.session_id).await.unwrap());
        assert_eq!(
            count(
                &c,
                "SELECT COUNT(*) FROM revocations WHERE kind = 'session' AND session_id = $1",
                &s.session_id
            )
            .await,
            1
        );
    }
    assert_eq!(voided_users(&c).await, [u.id.as_str()]);
    assert_eq!(audited(&c, "user.disable").await, 1);
    assert!(matches!(
        accounts::authenticate(&c, &Ctx::default(), "dis@example.com", PASSWORD.into()).await,
        Err(DomainError::AccountDisabled)
    ));
    assert!(matches!(
        sessions::refresh(&c, &Ctx::default(), &s1.refresh_token).await,
        Err(DomainError::Refresh(RefreshRefused::SessionRevoked))
    ));
    assert!(matches!(
        accounts::set_disabled(&c, &admin(), "usr_ghost", true).await,
        Err(DomainError::NotFound(What::User))
    ));
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_its_session_even_though_the_call_fails() {
    let c = core().await;
    let u = accounts::signup(&c, &Ctx::default(), "reuse@example.com", PASSWORD.into())
        .await
        .unwrap();
    let first = sessions::create(&c, &Ctx::default(), &u).await.unwrap();
    let second = sessions::refresh(&c, &Ctx::default(), &first.refresh_token)
        .await
        .unwrap();
    assert_eq!(second.session_id, first.session_id);
    assert!(matches!(
        sessions::refresh(&c, &Ctx::default(), &first.refresh_token).await,
        Err(DomainError::Refresh(RefreshRefused::Reused))
    ));
    // The refusal committed the revocation: the newer token is dead too.
    assert!(!sessions::is_live(&c, &first.session_id).await.unwrap());
    assert_eq!(audited(&c, "refresh.reuse_detected").await, 1);
    assert!(matches!(
        sessions::refresh(&c, &Ctx::default(), &second.refresh_token).await,
        Err(DomainError::Refresh(RefreshRefused::SessionRevoked))
    ));
    assert!(matches!(
        sessions::refresh(&c, &Ctx::default(), "").await,
        Err(DomainError::Refresh(RefreshRefused::Invalid))
    ));
}

#[tokio::test]
async fn a_session_is_revoked_only_by_its_owner() {
    let c = core().await;
    let alice = accounts::signup(&c, &Ctx::default(), "alice@example.com", PASSWORD.into())
        .await
        .unwrap();
    let bob = user(&c, "bob@example.com").await;
    let s = sessions::create(&c, &Ctx::default(), &alice).await.unwrap();
    assert!(matches!(
        sessions::revoke(&c, &Ctx::default(), &bob, &s.session_id, "logout").await,
        Err(DomainError::NotFound(What::Session))
    ));
    assert!(sessions::is_live(&c, &s.session_id).await.unwrap());
    assert!(
        sessions::revoke(&c, &Ctx::default(), &alice.id, &s.session_id, "logout")
            .await
            .unwrap()
    );
    assert!(!sessions::is_live(&c, &s.session_id).await.unwrap());
}

#[tokio::test]
async fn under_the_single_session_policy_a_log_in_revokes_the_other_sessions() {
    let c = core_with(&[("SESSION_POLICY", "single")]).await;
    let u = accounts::signup(&c, &Ctx::default(), "single@example.com", PASSWORD.into())
        .await
        .unwrap();
    let old = sessions::create(&c, &Ctx::default(), &u).await.unwrap();
    let new = sessions::create(&c, &Ctx::default(), &u).await.unwrap();
    assert!(!sessions::is_live(&c, &old.session_id).await.unwrap());
    assert!(sessions::is_live(&c, &new.session_id).await.unwrap());
    // Only the old session's tokens are void, not every token of the user (the new one
    // was minted in the same second).
    assert_eq!(voided_users(&c).await, Vec::<String>::new());
}

#[tokio::test]
async fn the_cli_admin_grant_goes_through_the_same_rules() {
    let c = core().await;
    let a = admin();
    let u = user(&c, "cli@example.com").await;
    rbac::create_role(&c, &a, "auditor", None, "")
        .await
        .unwrap();
    rbac::add_sod(&c, &a, "admin", "auditor").await.unwrap();
    rbac::grant_role(&c, &a, &u, "auditor").await.unwrap();
    let e = accounts::create_admin(&c, "cli@example.com", String::new())
        .await
        .unwrap_err();
    assert!(matches!(e, DomainError::SeparationOfDuty { .. }), "{e:?}");
    let (made, created) = accounts::create_admin(&c, "root@example.com", PASSWORD.into())
        .await
        .unwrap();
    assert!(created);
    assert_eq!(
        rbac::user_roles(&c, &admin(), &made.id)
            .await
            .unwrap()
            .assigned_roles,
        ["admin", "user"]
    );
}

// ---------------------------------------------------------------- keys, webhooks, audit

#[tokio::test]
async fn key_rotation_retires_the_active_key_and_is_audited() {
    let c = core().await;
    let before = keys::published(&c).await.unwrap()["keys"]
        .as_array()
        .unwrap()
        .len();
    let (kid, retired) = keys::rotate(&c, &Ctx::cli()).await.unwrap();
    assert_eq!(retired.len(), 1);
    let published = keys::published(&c).await.unwrap();
    let kids: Vec<&str> = published["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), before + 1, "the retired key stays published");
    assert!(kids.contains(&kid.as_str()) && kids.contains(&retired[0].as_str()));
    assert_eq!(audited(&c, "keys.rotate").await, 1);
}

#[tokio::test]
async fn only_a_dead_or_failed_webhook_event_is_requeued() {
    let c = core().await;
    let a = admin();
    assert!(matches!(
        webhooks::requeue_event(&c, &a, "4242").await,
        Err(DomainError::NotFound(What::WebhookEvent))
    ));
    let ev = webhooks::NewEvent {
        provider: edge_auth::webhook::Provider::Stripe,
        event_id: "evt_domain_1".into(),
        event_type: "invoice.paid".into(),
        payload: br#"{"id":"evt_domain_1","type":"invoice.paid"}"#.to_vec(),
        request_id: None,
    };
    let webhooks::Stored::Accepted(id) = webhooks::receive(&c, &ev).await.unwrap() else {
        panic!("first delivery must be stored");
    };
    assert_eq!(
        webhooks::receive(&c, &ev).await.unwrap(),
        webhooks::Stored::Duplicate
    );
    // Pending (never attempted) is not re-queueable.
    assert!(matches!(
        webhooks::requeue_event(&c, &a, &id.to_string()).await,
        Err(DomainError::WebhookNotRequeueable)
    ));
    assert_eq!(audited(&c, "webhook.requeue").await, 0);
    c.db.pool
        .execute("UPDATE webhook_events SET status = 'dead'")
        .await
        .unwrap();
    webhooks::requeue_event(&c, &a, &id.to_string())
        .await
        .unwrap();
    assert_eq!(audited(&c, "webhook.requeue").await, 1);
    let listed = webhooks::list(&c, &a, &Default::default(), Page::default())
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, "pending");
}

#[tokio::test]
async fn one_page_rule_walks_the_audit_log_newest_first_without_gaps() {
    let c = core().await;
    let a = admin();
    for i in 0..5 {
        rbac::create_role(&c, &a, &format!("p{i}"), None, "")
            .await
            .unwrap();
    }
    let mut page = Page {
        before: None,
        limit: 2,
    };
    let mut seen = Vec::new();
    loop {
        let entries = edge_auth_origin::domain::audit::list(&c, &a, Some("role.create"), page)
            .await
            .unwrap();
        seen.extend(entries.iter().map(|e| e.target.clone().unwrap()));
        match page.next_before(&entries, |e| e.id) {
            Some(next) => page.before = Some(next.parse().unwrap()),
            None => break,
        }
    }
    assert_eq!(seen, ["p4", "p3", "p2", "p1", "p0"]);
}
