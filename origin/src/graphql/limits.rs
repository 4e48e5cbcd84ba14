//! What a GraphQL request may cost, checked before anything runs: the settings (with safe
//! defaults, each error naming its variable) and one walk over the parsed document that expands
//! every fragment spread and inline fragment in place.
//!
//! The walk decides by what a field *is* (its name, its arguments), never by what a fragment is
//! *called*: a fragment named `__schema` is expanded and counted like any other (the bypass of
//! graphql-armor#823), `__typename` and introspection fields count like every field (#767), and
//! the sums are per HTTP request, a batch included, so batching buys no extra budget.

use std::time::Duration;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, OperationDefinition, Selection, SelectionSet,
};
use async_graphql::{Name, Value, Variables};

use crate::config::ConfigError;

/// `GRAPHQL_*`: the limits of `POST /graphql`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphqlSettings {
    /// `GRAPHQL_MAX_DEPTH` (default 10, 1–64): nesting of fields, fragments expanded.
    pub max_depth: usize,
    /// `GRAPHQL_MAX_COMPLEXITY` (default 2000, 1–1000000): every field costs 1; a list field's
    /// selection costs its `first`/`limit` argument (or its default page) times its children.
    /// Summed over a batch.
    pub max_complexity: u64,
    /// `GRAPHQL_MAX_ALIASES` (default 20, 0–1000): aliased fields per request, fragments
    /// expanded, summed over a batch.
    pub max_aliases: usize,
    /// `GRAPHQL_MAX_ROOT_FIELDS` (default 10, 1–100): top-level fields per request, summed over
    /// a batch.
    pub max_root_fields: usize,
    /// `GRAPHQL_MAX_BATCH` (default 5, 0–100): operations in one JSON array; 0 turns batching
    /// off (an array is refused whatever its length).
    pub max_batch: usize,
    /// `GRAPHQL_MAX_DOCUMENT_BYTES` (default 8192, 256–1048576): length of each query text.
    pub max_document_bytes: usize,
    /// `GRAPHQL_INTROSPECTION` (default false): answer `__schema` / `__type`. Off, they are
    /// refused and error messages suggest no field names.
    pub introspection: bool,
    /// `GRAPHQL_TIMEOUT_MS` (default 5000, 1–60000): the whole request's execution time.
    pub timeout: Duration,
    /// `GRAPHQL_DATALOADER` (default true): batch relations through DataLoader. `false` exists
    /// only to measure what it saves (docs/PERFORMANCE.md): every relation then queries per item.
    pub dataloader: bool,
}

impl Default for GraphqlSettings {
    fn default() -> Self {
        GraphqlSettings {
            max_depth: 10,
            max_complexity: 2000,
            max_aliases: 20,
            max_root_fields: 10,
            max_batch: 5,
            max_document_bytes: 8192,
            introspection: false,
            timeout: Duration::from_millis(5000),
            dataloader: true,
        }
    }
}

impl GraphqlSettings {
    /// Reads the `GRAPHQL_*` variables through `get` (trimmed, empty = unset).
    pub fn from_lookup<'a>(
        get: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<GraphqlSettings, ConfigError> {
        fn ranged<T>(
            var: &'static str,
            v: Option<&str>,
            default: T,
            lo: T,
            hi: T,
        ) -> Result<T, ConfigError>
        where
            T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
        {
            let n = match v {
                None => default,
                Some(s) => s.parse().map_err(|_| ConfigError {
                    var,
                    problem: format!("{s:?} is not a valid number"),
                })?,
            };
            if n < lo || n > hi {
                return Err(ConfigError {
                    var,
                    problem: format!("{n} is outside {lo}..={hi}"),
                });
            }
            Ok(n)
        }
        fn flag(var: &'static str, v: Option<&str>, default: bool) -> Result<bool, ConfigError> {
            match v {
                None => Ok(default),
                Some("true") | Some("1") => Ok(true),
                Some("false") | Some("0") => Ok(false),
                Some(s) => Err(ConfigError {
                    var,
                    problem: format!("{s:?} is not true/false"),
                }),
            }
        }
        let d = GraphqlSettings::default();
        let v = |k: &'static str| get(k);
        Ok(GraphqlSettings {
            max_depth: ranged(
                "GRAPHQL_MAX_DEPTH",
                v("GRAPHQL_MAX_DEPTH"),
                d.max_depth,
                1,
                64,
            )?,
            max_complexity: ranged(
                "GRAPHQL_MAX_COMPLEXITY",
                v("GRAPHQL_MAX_COMPLEXITY"),
                d.max_complexity,
                1,
                1_000_000,
            )?,
            max_aliases: ranged(
                "GRAPHQL_MAX_ALIASES",
                v("GRAPHQL_MAX_ALIASES"),
                d.max_aliases,
                0,
                1000,
            )?,
            max_root_fields: ranged(
                "GRAPHQL_MAX_ROOT_FIELDS",
                v("GRAPHQL_MAX_ROOT_FIELDS"),
                d.max_root_fields,
                1,
                100,
            )?,
            max_batch: ranged(
                "GRAPHQL_MAX_BATCH",
                v("GRAPHQL_MAX_BATCH"),
                d.max_batch,
                0,
                100,
            )?,
            max_document_bytes: ranged(
                "GRAPHQL_MAX_DOCUMENT_BYTES",
                v("GRAPHQL_MAX_DOCUMENT_BYTES"),
                d.max_document_bytes,
                256,
                1 << 20,
            )?,
            introspection: flag(
                "GRAPHQL_INTROSPECTION",
                v("GRAPHQL_INTROSPECTION"),
                d.introspection,
            )?,
            timeout: Duration::from_millis(ranged(
                "GRAPHQL_TIMEOUT_MS",
                v("GRAPHQL_TIMEOUT_MS"),
                5000u64,
                1,
                60_000,
            )?),
            dataloader: flag("GRAPHQL_DATALOADER", v("GRAPHQL_DATALOADER"), d.dataloader)?,
        })
    }

    /// The largest body `POST /graphql` reads: a full batch of full documents plus room for
    /// variables.
    pub fn max_body_bytes(&self) -> usize {
        self.max_document_bytes * self.max_batch.max(1) + 64 * 1024
    }
}

/// Fields whose value is a list of objects, and the weight their selection gets when the query
/// gives no `first`/`limit`: the page a paged field returns by default, or a bound on a small
/// relation (a user's roles, a role's permissions). `tests/graphql.rs` checks that every
/// object-list field of the schema is here.
pub const LIST_FIELDS: &[(&str, u64)] = &[
    // paged (`first` argument, default page 50)
    ("users", 50),
    ("auditLog", 50),
    ("webhookEvents", 50),
    ("nodes", 1),
    // small relations
    ("roles", 5),
    ("sessions", 5),
    ("signInMethods", 3),
    ("permissions", 5),
];

fn list_weight(field: &str) -> Option<u64> {
    LIST_FIELDS
        .iter()
        .find(|(n, _)| *n == field)
        .map(|(_, w)| *w)
}

/// Why a request is refused before it runs; each has a stable `extensions.code`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    BatchingDisabled,
    BatchTooLarge {
        max: usize,
        got: usize,
    },
    DocumentTooLarge {
        max: usize,
        got: usize,
    },
    DepthExceeded {
        max: usize,
    },
    ComplexityExceeded {
        max: u64,
        got: u64,
    },
    AliasesExceeded {
        max: usize,
        got: usize,
    },
    RootFieldsExceeded {
        max: usize,
        got: usize,
    },
    /// A fragment that spreads itself (directly or not): never valid, never expanded.
    FragmentCycle,
    UnknownFragment,
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::BatchingDisabled => "batching_disabled",
            Refusal::BatchTooLarge { .. } => "batch_too_large",
            Refusal::DocumentTooLarge { .. } => "document_too_large",
            Refusal::DepthExceeded { .. } => "depth_limit_exceeded",
            Refusal::ComplexityExceeded { .. } => "complexity_limit_exceeded",
            Refusal::AliasesExceeded { .. } => "alias_limit_exceeded",
            Refusal::RootFieldsExceeded { .. } => "root_field_limit_exceeded",
            Refusal::FragmentCycle => "fragment_cycle",
            Refusal::UnknownFragment => "unknown_fragment",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Refusal::BatchingDisabled => "batched requests are disabled".into(),
            Refusal::BatchTooLarge { max, got } => {
                format!("a batch may hold at most {max} operations, this one holds {got}")
            }
            Refusal::DocumentTooLarge { max, got } => {
                format!("the query is {got} bytes, at most {max} are accepted")
            }
            Refusal::DepthExceeded { max } => {
                format!("the query nests deeper than {max} levels (fragments expanded)")
            }
            Refusal::ComplexityExceeded { max, got } => {
                format!("the query's complexity is at least {got}, at most {max} is accepted")
            }
            Refusal::AliasesExceeded { max, got } => {
                format!("the request uses {got} aliases, at most {max} are accepted")
            }
            Refusal::RootFieldsExceeded { max, got } => {
                format!("the request selects {got} top-level fields, at most {max} are accepted")
            }
            Refusal::FragmentCycle => "a fragment spreads itself".into(),
            Refusal::UnknownFragment => "a spread names an unknown fragment".into(),
        }
    }
}

/// What one document costs, fragments expanded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    pub depth: usize,
    pub complexity: u64,
    pub aliases: usize,
    pub root_fields: usize,
    /// The document selects `__schema` or `__type` somewhere (fragments expanded).
    pub introspection: bool,
}

impl Cost {
    pub fn add(&mut self, o: Cost) {
        self.depth = self.depth.max(o.depth);
        self.complexity = self.complexity.saturating_add(o.complexity);
        self.aliases += o.aliases;
        self.root_fields += o.root_fields;
        self.introspection |= o.introspection;
    }

    /// Checks a request's total against the limits.
    pub fn check(&self, s: &GraphqlSettings) -> Result<(), Refusal> {
        if self.depth > s.max_depth {
            return Err(Refusal::DepthExceeded { max: s.max_depth });
        }
        if self.aliases > s.max_aliases {
            return Err(Refusal::AliasesExceeded {
                max: s.max_aliases,
                got: self.aliases,
            });
        }
        if self.root_fields > s.max_root_fields {
            return Err(Refusal::RootFieldsExceeded {
                max: s.max_root_fields,
                got: self.root_fields,
            });
        }
        if self.complexity > s.max_complexity {
            return Err(Refusal::ComplexityExceeded {
                max: s.max_complexity,
                got: self.complexity,
            });
        }
        Ok(())
    }
}

struct Walk<'a> {
    doc: &'a ExecutableDocument,
    vars: &'a Variables,
    op: &'a OperationDefinition,
    s: &'a GraphqlSettings,
    /// Fragments being expanded on the current path (cycle guard).
    stack: Vec<&'a Name>,
    /// Field visits left: a document whose fragments spread each other many times expands
    /// exponentially; past the budget it is refused as too complex without walking on.
    budget: u64,
    aliases: usize,
    depth: usize,
    introspection: bool,
}

impl<'a> Walk<'a> {
    /// The multiplier of a list field: its `first`/`limit` argument (a literal, or a variable's
    /// value, else the variable's default), else the field's default weight.
    fn weight(&self, f: &'a Field) -> u64 {
        let default = list_weight(f.name.node.as_str());
        let given = f
            .arguments
            .iter()
            .find(|(n, _)| matches!(n.node.as_str(), "first" | "limit"))
            .and_then(|(_, v)| {
                v.node
                    .clone()
                    .into_const_with(|var| self.variable(&var).ok_or(()))
                    .ok()
            });
        match given {
            // Negative or absurd values are refused by the resolver; here they weigh as much
            // as they say (saturating), so a huge `first` is refused up front.
            Some(Value::Number(n)) => n
                .as_u64()
                .or_else(|| n.as_i64().map(|i| i.max(0) as u64))
                .or_else(|| n.as_f64().map(|f| f.max(0.0).min(u64::MAX as f64) as u64))
                .unwrap_or(u64::MAX),
            Some(Value::Null) | None => default.unwrap_or(1),
            // Not a number: validation refuses it; weigh it as the default meanwhile.
            Some(_) => default.unwrap_or(1),
        }
    }

    /// A variable's value in this request, else its default in the operation.
    fn variable(&self, name: &Name) -> Option<Value> {
        self.vars.get(name).cloned().or_else(|| {
            self.op
                .variable_definitions
                .iter()
                .find(|d| d.node.name.node == *name)
                .and_then(|d| d.node.default_value.as_ref())
                .map(|d| d.node.clone())
        })
    }

    /// Complexity of a selection set at `depth` (its fields are at `depth + 1`).
    fn set(&mut self, set: &'a SelectionSet, depth: usize) -> Result<u64, Refusal> {
        let mut total: u64 = 0;
        for sel in &set.items {
            let c = match &sel.node {
                Selection::Field(f) => {
                    let f = &f.node;
                    let d = depth + 1;
                    if d > self.s.max_depth {
                        return Err(Refusal::DepthExceeded {
                            max: self.s.max_depth,
                        });
                    }
                    self.depth = self.depth.max(d);
                    if self.budget == 0 {
                        return Err(Refusal::ComplexityExceeded {
                            max: self.s.max_complexity,
                            got: self.s.max_complexity.saturating_add(1),
                        });
                    }
                    self.budget -= 1;
                    if f.alias.is_some() {
                        self.aliases += 1;
                    }
                    if matches!(f.name.node.as_str(), "__schema" | "__type") {
                        self.introspection = true;
                    }
                    if f.selection_set.node.items.is_empty() {
                        1
                    } else {
                        let children = self.set(&f.selection_set.node, d)?;
                        let w = self.weight(f);
                        1u64.saturating_add(w.saturating_mul(children))
                    }
                }
                Selection::InlineFragment(i) => self.set(&i.node.selection_set.node, depth)?,
                Selection::FragmentSpread(s) => {
                    let name = &s.node.fragment_name.node;
                    if self.stack.contains(&name) {
                        return Err(Refusal::FragmentCycle);
                    }
                    let frag = self
                        .doc
                        .fragments
                        .get(name)
                        .ok_or(Refusal::UnknownFragment)?;
                    self.stack.push(name);
                    let c = self.set(&frag.node.selection_set.node, depth)?;
                    self.stack.pop();
                    c
                }
            };
            total = total.saturating_add(c);
        }
        Ok(total)
    }
}

/// Top-level fields of an operation, fragments on the root expanded.
fn root_fields(doc: &ExecutableDocument, set: &SelectionSet, seen: &mut Vec<Name>) -> usize {
    set.items
        .iter()
        .map(|sel| match &sel.node {
            Selection::Field(_) => 1,
            Selection::InlineFragment(i) => root_fields(doc, &i.node.selection_set.node, seen),
            Selection::FragmentSpread(s) => {
                let name = &s.node.fragment_name.node;
                if seen.contains(name) {
                    return 0;
                }
                seen.push(name.clone());
                let n = doc
                    .fragments
                    .get(name)
                    .map_or(0, |f| root_fields(doc, &f.node.selection_set.node, seen));
                seen.pop();
                n
            }
        })
        .sum()
}

/// The cost of every operation of `doc` (a document may hold several; each is counted, so the
/// one that runs is within the limits whichever it is). Refuses as soon as a limit is passed.
pub fn analyze(
    doc: &ExecutableDocument,
    vars: &Variables,
    s: &GraphqlSettings,
) -> Result<Cost, Refusal> {
    let ops: Vec<&OperationDefinition> = match &doc.operations {
        DocumentOperations::Single(op) => vec![&op.node],
        DocumentOperations::Multiple(m) => m.values().map(|op| &op.node).collect(),
    };
    let mut cost = Cost::default();
    for op in ops {
        let mut w = Walk {
            doc,
            vars,
            op,
            s,
            stack: Vec::new(),
            budget: s.max_complexity.saturating_add(1).min(1_000_000),
            aliases: 0,
            depth: 0,
            introspection: false,
        };
        let complexity = w.set(&op.selection_set.node, 0)?;
        cost.add(Cost {
            depth: w.depth,
            complexity,
            aliases: w.aliases,
            root_fields: root_fields(doc, &op.selection_set.node, &mut Vec::new()),
            introspection: w.introspection,
        });
        cost.check(s)?;
    }
    Ok(cost)
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    fn cost(q: &str) -> Result<Cost, Refusal> {
        let s = GraphqlSettings {
            max_depth: 5,
            max_complexity: 1000,
            max_aliases: 3,
            max_root_fields: 3,
            ..GraphqlSettings::default()
        };
        analyze(&parse_query(q).unwrap(), &Variables::default(), &s)
    }

    #[test]
    fn settings_default_safely_and_every_error_names_its_variable() {
        let none = |_: &str| None;
        assert_eq!(
            GraphqlSettings::from_lookup(none).unwrap(),
            GraphqlSettings::default()
        );
        assert!(!GraphqlSettings::default().introspection);
        for (var, bad) in [
            ("GRAPHQL_MAX_DEPTH", "0"),
            ("GRAPHQL_MAX_DEPTH", "deep"),
            ("GRAPHQL_MAX_COMPLEXITY", "0"),
            ("GRAPHQL_MAX_ALIASES", "1001"),
            ("GRAPHQL_MAX_ROOT_FIELDS", "0"),
            ("GRAPHQL_MAX_BATCH", "101"),
            ("GRAPHQL_MAX_DOCUMENT_BYTES", "10"),
            ("GRAPHQL_INTROSPECTION", "yes"),
            ("GRAPHQL_TIMEOUT_MS", "0"),
            ("GRAPHQL_DATALOADER", "maybe"),
        ] {
            let e = GraphqlSettings::from_lookup(|k: &str| (k == var).then_some(bad)).unwrap_err();
            assert_eq!(e.var, var, "{var}={bad}: {e}");
            assert!(e.to_string().starts_with(var), "{e}");
        }
        let s = GraphqlSettings::from_lookup(|k: &str| match k {
            "GRAPHQL_MAX_BATCH" => Some("0"),
            "GRAPHQL_INTROSPECTION" => Some("true"),
            "GRAPHQL_TIMEOUT_MS" => Some("250"),
            _ => None,
        })
        .unwrap();
        assert_eq!(s.max_batch, 0);
        assert!(s.introspection);
        assert_eq!(s.timeout, Duration::from_millis(250));
    }

    #[test]
    fn fragments_are_expanded_whatever_they_are_called() {
        let c = cost("{ a { b { c } } }").unwrap();
        assert_eq!(c.depth, 3);
        // A fragment named like an introspection field is still expanded and counted.
        let q = "query { a { ...__schema } } fragment __schema on A { b { c { d { e { f } } } } }";
        assert_eq!(cost(q), Err(Refusal::DepthExceeded { max: 5 }));
        let q = "{ a { ... on A { b { c { d { e { f } } } } } } }";
        assert_eq!(cost(q), Err(Refusal::DepthExceeded { max: 5 }));
        // Introspection fields count like any other.
        let q = "{ __schema { types { fields { type { ofType { name } } } } } }";
        assert_eq!(cost(q), Err(Refusal::DepthExceeded { max: 5 }));
    }

    #[test]
    fn aliases_and_root_fields_are_counted_through_fragments() {
        assert_eq!(
            cost("{ a: __typename b: __typename c: __typename }")
                .unwrap()
                .aliases,
            3
        );
        assert!(matches!(
            cost("{ x { ...F ...F } } fragment F on X { a: __typename b: __typename }"),
            Err(Refusal::AliasesExceeded { got: 4, .. })
        ));
        assert!(matches!(
            cost("{ ...R } fragment R on Query { a b c d }"),
            Err(Refusal::RootFieldsExceeded { got: 4, .. })
        ));
    }

    #[test]
    fn list_fields_weigh_their_page() {
        assert_eq!(
            cost("{ users(first: 2) { nodes { id email } } }")
                .unwrap()
                .complexity,
            1 + 2 * (1 + 2)
        );
        // Without `first`, the default page.
        assert_eq!(
            cost("{ users { nodes { id } } }").unwrap().complexity,
            1 + 50 * 2
        );
        assert!(matches!(
            cost("{ users(first: 100000) { nodes { id } } }"),
            Err(Refusal::ComplexityExceeded { .. })
        ));
    }

    #[test]
    fn cycles_and_exponential_fragments_are_refused() {
        assert_eq!(
            cost("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }"),
            Err(Refusal::FragmentCycle)
        );
        let mut q = String::from("{ x { ...F0 } }");
        for i in 0..30 {
            q.push_str(&format!(
                " fragment F{i} on X {{ y {{ ...F{n} ...F{n} }} }}",
                n = i + 1
            ));
        }
        q.push_str(" fragment F30 on X { z }");
        // Deeper than the limit long before the expansion blows up.
        assert!(cost(&q).is_err());
        // The same without nesting: 2^30 fields at one level, refused when the walk's budget
        // runs out, not after a billion visits.
        let mut q = String::from("{ x { ...F0 } }");
        for i in 0..30 {
            q.push_str(&format!(
                " fragment F{i} on X {{ ...F{n} ...F{n} }}",
                n = i + 1
            ));
        }
        q.push_str(" fragment F30 on X { z }");
        assert!(matches!(cost(&q), Err(Refusal::ComplexityExceeded { .. })));
    }
}
