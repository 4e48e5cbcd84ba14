//! `POST /graphql`: the GraphQL API (async-graphql) beside REST, behind the edge like any route.
//!
//! The request is checked before anything runs — media type, body size, batch size, each
//! document's size, then one walk over each parsed document (`limits`) whose depth, complexity,
//! aliases and root fields are summed over the whole HTTP request — and executed under a
//! timeout. The caller comes only from the verified envelope (`AuthUser`): resolvers pass their
//! `Ctx` to the domain, which decides. Refusals are `{"errors": [{"message", "extensions":
//! {"code"}}]}` with a stable code; field errors carry the REST reason id as their code.
//!
//! The axum glue is ours rather than `async-graphql-axum`'s so every limit applies before the
//! body is even deserialised into operations, and GET / multipart are simply not served.

pub mod errors;
pub mod limits;
pub mod loaders;
pub mod schema;

use std::sync::Arc;

use async_graphql::{BatchRequest, BatchResponse, Request};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::Problem;
use crate::http::envelope::AuthUser;
use crate::http::extract::RequestCtx;
use crate::http::AppState;
use limits::{analyze, Cost, GraphqlSettings, Refusal};
use loaders::Loaders;
use schema::{ApiSchema, Caller};

/// The schema and its limits, built once per router.
#[derive(Clone)]
pub struct Graphql {
    schema: ApiSchema,
    settings: Arc<GraphqlSettings>,
}

impl Graphql {
    pub fn new(settings: &GraphqlSettings) -> Graphql {
        Graphql {
            schema: schema::build(settings.introspection),
            settings: Arc::new(settings.clone()),
        }
    }
}

/// Why a request is answered before it runs.
enum Reject {
    /// Not a GraphQL request at all: problem+json like every other origin route.
    Transport(StatusCode, &'static str, String),
    /// A GraphQL request refused (a limit, a parse error): a GraphQL error with this code.
    Graphql(StatusCode, &'static str, String),
}

impl From<Refusal> for Reject {
    fn from(r: Refusal) -> Reject {
        Reject::Graphql(StatusCode::BAD_REQUEST, r.code(), r.message())
    }
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        match self {
            Reject::Transport(status, id, detail) => {
                tracing::info!(reason = id, "graphql request refused");
                crate::error::problem_response(&Problem::new(status, id).detail(detail))
            }
            Reject::Graphql(status, code, message) => {
                tracing::info!(reason = code, "graphql request refused");
                let body =
                    json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
                let mut res = (status, body.to_string()).into_response();
                res.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                res.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                res
            }
        }
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim().eq_ignore_ascii_case("application/json")
                || m.trim()
                    .eq_ignore_ascii_case("application/graphql-response+json")
        })
}

/// The requests of a body: one object, or an array (a batch) within the limit.
/// `true` with the list when the body was an array (answered with an array).
fn operations(body: &[u8], s: &GraphqlSettings) -> Result<(Vec<Request>, bool), Reject> {
    let parsed: BatchRequest = serde_json::from_slice(body).map_err(|_| {
        Reject::Transport(
            StatusCode::BAD_REQUEST,
            "malformed_request",
            "the body is not a GraphQL request (JSON with a string `query`) or an array of them"
                .into(),
        )
    })?;
    // A missing `query` deserialises as an empty one: not a GraphQL request either.
    let empty = match &parsed {
        BatchRequest::Single(r) => r.query.trim().is_empty(),
        BatchRequest::Batch(v) => v.iter().any(|r| r.query.trim().is_empty()),
    };
    if empty {
        return Err(Reject::Transport(
            StatusCode::BAD_REQUEST,
            "malformed_request",
            "every request needs a non-empty `query`".into(),
        ));
    }
    match parsed {
        BatchRequest::Single(r) => Ok((vec![r], false)),
        BatchRequest::Batch(v) => {
            if s.max_batch == 0 {
                Err(Refusal::BatchingDisabled.into())
            } else if v.len() > s.max_batch {
                Err(Refusal::BatchTooLarge {
                    max: s.max_batch,
                    got: v.len(),
                }
                .into())
            } else if v.is_empty() {
                Err(Reject::Transport(
                    StatusCode::BAD_REQUEST,
                    "malformed_request",
                    "an empty batch".into(),
                ))
            } else {
                Ok((v, true))
            }
        }
    }
}

/// Every limit, over every operation of the request together.
fn check(ops: &[Request], s: &GraphqlSettings) -> Result<Cost, Reject> {
    let mut total = Cost::default();
    for op in ops {
        if op.query.len() > s.max_document_bytes {
            return Err(Refusal::DocumentTooLarge {
                max: s.max_document_bytes,
                got: op.query.len(),
            }
            .into());
        }
        let doc = async_graphql::parser::parse_query(&op.query).map_err(|e| {
            Reject::Graphql(
                StatusCode::BAD_REQUEST,
                "graphql_parse_failed",
                e.to_string(),
            )
        })?;
        let cost = analyze(&doc, &op.variables, s)?;
        if cost.introspection && !s.introspection {
            return Err(Reject::Graphql(
                StatusCode::BAD_REQUEST,
                "introspection_disabled",
                "introspection is disabled on this server".into(),
            ));
        }
        total.add(cost);
        total.check(s)?;
    }
    Ok(total)
}

/// The field an error's path names is `null` in `data`, as the GraphQL spec has it
/// (async-graphql leaves a failed field out of its object): a client sees which fields failed
/// in `data` too, not only in `errors`.
fn null_failed_field(data: &mut async_graphql::Value, path: &[async_graphql::PathSegment]) {
    use async_graphql::{PathSegment, Value};
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = data;
    for seg in parents {
        cur = match (seg, cur) {
            (PathSegment::Field(f), Value::Object(o)) => match o.get_mut(f.as_str()) {
                Some(v) => v,
                None => return,
            },
            (PathSegment::Index(i), Value::List(l)) => match l.get_mut(*i) {
                Some(v) => v,
                None => return,
            },
            _ => return,
        };
    }
    if let (PathSegment::Field(f), Value::Object(o)) = (last, cur) {
        o.entry(async_graphql::Name::new(f)).or_insert(Value::Null);
    }
}

/// Errors that reached the client without a code (validation of the document against the
/// schema) get `invalid_query`, so every error a client sees has one; a failed field is `null`.
fn with_codes(mut res: async_graphql::Response) -> async_graphql::Response {
    // async-graphql answers `data: null` when every root field failed; when only nullable root
    // fields failed (every error's path is one field long) the spec's answer is those fields null.
    if res.data == async_graphql::Value::Null
        && !res.errors.is_empty()
        && res.errors.iter().all(|e| e.path.len() == 1)
    {
        res.data = async_graphql::Value::Object(Default::default());
    }
    for e in &res.errors {
        null_failed_field(&mut res.data, &e.path);
    }
    for e in &mut res.errors {
        let has = e
            .extensions
            .as_ref()
            .is_some_and(|x| x.get("code").is_some());
        if !has {
            e.extensions
                .get_or_insert_with(Default::default)
                .set("code", "invalid_query");
        }
    }
    res
}

/// `POST /graphql`.
pub async fn serve(
    gql: Graphql,
    state: AppState,
    user: AuthUser,
    rc: RequestCtx,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let s = &*gql.settings;
    if !is_json(&headers) {
        return Reject::Transport(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the request as application/json".into(),
        )
        .into_response();
    }
    let max = s.max_body_bytes();
    let Ok(bytes) = axum::body::to_bytes(body, max).await else {
        return Reject::Transport(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
            format!("the body is larger than {max} bytes"),
        )
        .into_response();
    };
    let (ops, batch) = match operations(&bytes, s) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    if let Err(r) = check(&ops, s) {
        return r.into_response();
    }
    let ctx = user.ctx(rc);
    let caller = Arc::new(Caller {
        core: state.core.clone(),
        ctx: ctx.clone(),
        user_id: user.user_id.clone(),
        session: user.session_id.clone(),
        roles: user
            .identity
            .roles()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        permissions: user
            .identity
            .permissions()
            .into_iter()
            .map(str::to_owned)
            .collect(),
    });
    // One set of loaders for the whole request: a batch shares its batches too.
    let loaders = Arc::new(Loaders::new(state.core.clone(), ctx, s.dataloader));
    let run = async {
        let mut out = Vec::with_capacity(ops.len());
        for op in ops {
            let op = op.data(caller.clone()).data(loaders.clone());
            out.push(with_codes(gql.schema.execute(op).await));
        }
        out
    };
    let responses = match tokio::time::timeout(s.timeout, run).await {
        Ok(r) => r,
        Err(_) => {
            return Reject::Graphql(
                StatusCode::OK,
                "query_timeout",
                format!(
                    "the request ran longer than {} ms and was stopped",
                    s.timeout.as_millis()
                ),
            )
            .into_response()
        }
    };
    let body = if batch {
        serde_json::to_vec(&BatchResponse::Batch(responses))
    } else {
        serde_json::to_vec(&responses.into_iter().next())
    };
    match body {
        Ok(b) => {
            let mut res = (StatusCode::OK, b).into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(e) => {
            tracing::error!(side = "internal", error = %e, "graphql: response not serialisable");
            Reject::Graphql(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "internal error".into(),
            )
            .into_response()
        }
    }
}

/// The route: `POST /graphql` with this router's schema.
pub fn route(state: &AppState) -> axum::routing::MethodRouter<AppState> {
    let gql = Graphql::new(&state.config.graphql);
    axum::routing::post(
        move |State(state): State<AppState>,
              user: AuthUser,
              rc: RequestCtx,
              headers: HeaderMap,
              body: Body| {
            let gql = gql.clone();
            async move { serve(gql, state, user, rc, headers, body).await }
        },
    )
}
