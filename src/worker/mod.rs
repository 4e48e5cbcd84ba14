//! The Workers adapter (wasm32 only): the one place that imports `worker`.
